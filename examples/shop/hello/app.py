"""GET /hello/{name}: an HTTP API (payload 2.0) handler."""
import os


def handler(event, context):
    name = event["pathParameters"]["name"]
    print(f"greeting {name}")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": f'{{"message": "{os.environ["GREETING"]}, {name}!"}}',
    }
