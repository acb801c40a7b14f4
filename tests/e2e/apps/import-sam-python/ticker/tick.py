import json


def handler(event, context):
    print("tick event: " + json.dumps(event))
    return {"ok": True}
