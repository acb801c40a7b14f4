"""Fails while being imported."""
raise ImportError("no module named 'stripe'")


def handler(event, context):
    return "never"
