"""Fails as the `mode` query parameter says."""
import os
import time


def handler(event, context):
    mode = (event.get("queryStringParameters") or {}).get("mode")
    if mode == "crash":
        os._exit(3)
    if mode == "raise":
        raise ValueError("the order has no lines")
    if mode == "sleep":
        time.sleep(10)
    if mode == "huge":
        return {"statusCode": 200, "body": "z" * (1536 * 1024)}
    if mode == "malformed":
        return "not a response"
    return {"statusCode": 200, "body": "ok"}
