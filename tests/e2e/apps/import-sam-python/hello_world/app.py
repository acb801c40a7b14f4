import json
import os


def lambda_handler(event, context):
    """Sample pure Lambda function

    Parameters
    ----------
    event: dict, required
        API Gateway Lambda Proxy Input Format

    context: object, required
        Lambda Context runtime methods and attributes

    Returns
    ------
    API Gateway Lambda Proxy Output Format: dict
    """
    return {
        "statusCode": 200,
        "body": json.dumps({
            "message": "hello world",
            "greeting": os.environ.get("GREETING"),
            "stage": os.environ.get("STAGE"),
            "self": os.environ.get("SELF_ARN"),
            "bucket": os.environ.get("BUCKET"),
            "memory": context.memory_limit_in_mb,
            "httpMethod": event["httpMethod"],
            "resource": event["resource"],
            "path": event["path"],
            "pathParameters": event["pathParameters"],
        }),
    }
