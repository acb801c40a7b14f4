def handle(event, context):
    return {"dotted": True, "name": event.get("name")}
