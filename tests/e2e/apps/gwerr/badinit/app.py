"""Starts fine; the test replaces it with broken/badinit after the deploy."""


def handler(event, context):
    return "ok"
