import time


def handler(event, context):
    if event.get("stuck"):
        time.sleep(30)
    return "fine"
