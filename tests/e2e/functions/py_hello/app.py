"""A test function whose behaviour the event chooses."""
import json
import os
import sys
import threading
import time

STARTED = time.time()


def handler(event, context):
    event = event or {}
    if "print" in event:
        for i in range(event["print"]):
            print(f"{event.get('tag', 'line')} {i}")
            if event.get("sleep_between"):
                time.sleep(event["sleep_between"])
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "crash" in event:
        sys.stdout.flush()
        os._exit(event["crash"])
    if "alloc_mb" in event:
        hog = bytearray(event["alloc_mb"] * 1024 * 1024)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        time.sleep(2)
    if "raise" in event:
        raise ValueError(event["raise"])
    if "big" in event:
        return "x" * event["big"]
    if "after" in event:
        # Work left running after the response: it must complete (not frozen).
        path = event["after"]

        def later():
            time.sleep(0.3)
            with open(path, "w") as f:
                f.write("done")

        threading.Thread(target=later).start()
    if "append" in event:
        # A side effect keyed by request id, to check deliveries.
        with open(event["append"], "a") as f:
            f.write(f"{context.aws_request_id} {json.dumps(event.get('mark'))}\n")
        if event.get("then_fail"):
            raise RuntimeError("failing on purpose")
    if "exit_after" in event:
        # Dies after answering, while idle: the next request must not inherit that.
        threading.Timer(event["exit_after"], lambda: os._exit(3)).start()
    return {
        "event": event,
        "pid": os.getpid(),
        # One per instance (pids repeat: each instance has its own pid namespace).
        "instance": context.log_stream_name,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": getattr(getattr(context, "client_context", None), "custom", None),
        "env": dict(os.environ),
    }
