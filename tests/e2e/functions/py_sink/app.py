"""A destination: appends every event it receives to the file in SINK_FILE."""
import json
import os


def handler(event, context):
    with open(os.environ["SINK_FILE"], "a") as f:
        f.write(json.dumps(event) + "\n")
    return {"ok": True}
