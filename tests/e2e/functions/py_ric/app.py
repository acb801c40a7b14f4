"""Run by AWS's own runtime client: python3 -m awslambdaric app.handler."""
import os


def handler(event, context):
    return {
        "ric": True,
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
        "pid": os.getpid(),
        "instance": context.log_stream_name,
    }
