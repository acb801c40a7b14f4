import nosuchmodule_for_ondol_tests  # noqa: F401


def handler(event, context):
    return "unreachable"
