"""Echoes its event, or behaves as the `mode` query parameter says."""
import base64
import json
import time


def handler(event, context):
    qs = event.get("queryStringParameters") or {}
    mode = qs.get("mode")
    if mode == "raw":
        return {"inferred": True, "n": 1}
    if mode == "string":
        return "just text"
    if mode == "error":
        raise RuntimeError("the handler failed")
    if mode == "malformed":
        return "not a response" if event.get("version") != "2.0" else {"statusCode": "abc"}
    if mode == "sleep":
        time.sleep(float(qs.get("s", "1")))
    if mode == "binary":
        data = bytes(range(256))
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(data).decode(), "isBase64Encoded": True}
    if mode == "cookies":
        return {"statusCode": 200, "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": "ok"}
    if mode == "multi":
        return {"statusCode": 200, "headers": {"x-one": "1"},
                "multiValueHeaders": {"x-many": ["a", "b"]}, "body": "ok"}
    if mode == "big":
        return {"statusCode": 200, "body": "y" * 90000}
    if mode == "huge":
        return {"statusCode": 200, "body": "z" * 200000}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
