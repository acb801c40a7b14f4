"""A Lambda authorizer: tokens "allow-<user>" pass, "deny" is refused, "boom" fails.
A TOKEN event (payload 1.0 routes) is answered with an IAM policy, a REQUEST event
(2.0) with a simple response."""


def handler(event, context):
    token = event.get("authorizationToken") or event["identitySource"][0]
    print("AUTHZ-CALL", token)
    if token == "boom":
        raise RuntimeError("authorizer crashed")
    allow = token.startswith("allow-")
    ctx = {"user": token[len("allow-"):] if allow else "", "tier": 3}
    if event["type"] == "TOKEN":
        return {"principalId": ctx["user"] or "nobody", "context": ctx,
                "policyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Action": "execute-api:Invoke", "Effect": "Allow" if allow else "Deny",
                    "Resource": event["methodArn"]}]}}
    return {"isAuthorized": allow, "context": ctx}
