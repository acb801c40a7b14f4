import json


def tick(event, context):
    print("TICK", json.dumps(event.get("detail-type")))
    return "ticked"
