import json
import os

import six  # from requirements.txt: built by ondol as serverless-python-requirements would

TICKS = "/tmp/ticks.log"


def hello(event, context):
    body = {
        "message": os.environ["GREETING"],
        "name": event["pathParameters"]["name"],
        "version": event.get("version"),
        "routeKey": event.get("routeKey"),
        "table": os.environ["TABLE"],
        "stage": os.environ["STAGE"],
        "six": six.__name__,
        "memory": context.memory_limit_in_mb,
    }
    return {"statusCode": 200, "body": json.dumps(body)}


def rest(event, context):
    body = {
        "id": event["pathParameters"]["id"],
        "httpMethod": event.get("httpMethod"),
        "resource": event.get("resource"),
    }
    return {"statusCode": 200, "body": json.dumps(body)}


def tick(event, context):
    # The schedule's input arrives as the event, as EventBridge's constant input does.
    print("TICK " + json.dumps(event), flush=True)
    return {"ok": True}
