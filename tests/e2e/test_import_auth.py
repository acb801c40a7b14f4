"""Imported projects keep their routes protected: a SAM HttpApi JWT authorizer, a
serverless.yml's httpApi JWT and request (Lambda) authorizers, `private: true` with
a usage plan (keys made by `ondol keys create`), all enforced by the real front door
with tokens signed by PyJWT against a JWKS served by a real HTTP server; and an
authorizer the importer cannot map fails the deploy instead of opening the route."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import requests

from conftest import BIN
from test_authorizers import AUD, Issuer

AUTHZ = Path(__file__).parent / "apps" / "authz"


def deploy(server, d, check=True):
    r = subprocess.run([BIN, "deploy", str(d), "--endpoint", server.api],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ))
    if check:
        assert r.returncode == 0, r.stderr
    return r


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


SAM = """Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {{Runtime: python3.11, Handler: app.handler, Timeout: 10}}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Users
        Authorizers:
          Users:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {{issuer: "{issuer}", audience: [{aud}]}}
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Events:
        Items: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Path: /items, Method: get}}}}
        Scoped:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Path: /admin
            Method: get
            Auth: {{Authorizer: Users, AuthorizationScopes: [items:admin]}}
        Open: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Path: /health, Method: get, Auth: {{Authorizer: NONE}}}}}}
"""


def test_sam_http_api_jwt_authorizer_is_enforced(server, tmp_path):
    iss = Issuer()
    iss.add("rsa1")
    d = tmp_path / "samjwt"
    shutil.copytree(AUTHZ / "echo", d / "echo")
    (d / "template.yaml").write_text(SAM.format(issuer=iss.url, aud=AUD))
    r = deploy(server, d)
    assert "mapped       Resources.Api.Properties.Auth.Authorizers.Users  →  [authorizers.Users]" in r.stderr, r.stderr

    url = server.http
    none = requests.get(f"{url}/items", timeout=30)
    assert none.status_code == 401 and none.json() == {"message": "Unauthorized"}
    expired = iss.token(exp=int(time.time()) - 60)
    assert requests.get(f"{url}/items", headers=bearer(expired), timeout=30).status_code == 401
    ok = requests.get(f"{url}/items", headers=bearer(iss.token(sub="ada")), timeout=30)
    assert ok.status_code == 200, ok.text
    assert ok.json()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "ada"
    # The event's scopes: a token without them is forbidden, one with them passes.
    assert requests.get(f"{url}/admin", headers=bearer(iss.token()), timeout=30).status_code == 403
    admin = requests.get(f"{url}/admin", headers=bearer(iss.token(scope="items:admin")), timeout=30)
    assert admin.status_code == 200, admin.text
    # Authorizer: NONE stays open, as on AWS.
    assert requests.get(f"{url}/health", timeout=30).status_code == 200


def test_sam_cognito_authorizer_fails_the_deploy_instead_of_opening_routes(server, tmp_path):
    d = tmp_path / "samcognito"
    shutil.copytree(AUTHZ / "echo", d / "echo")
    text = SAM.format(issuer="https://x.example/", aud=AUD).replace(
        'JwtConfiguration: {issuer: "https://x.example/", audience: [shop-client]}',
        "UserPoolArn: arn:aws:cognito-idp:us-east-1:1:userpool/us-east-1_x")
    assert "UserPoolArn" in text
    (d / "template.yaml").write_text(text)
    r = deploy(server, d, check=False)
    assert r.returncode == 2, r.stderr
    assert "ondol would serve them open" in r.stderr and "Events.Items" in r.stderr, r.stderr
    assert "Events.Open" not in r.stderr, "Authorizer: NONE is not protected"
    assert requests.get(f"{server.http}/items", timeout=30).status_code == 404


SLS = """service: slsauth
provider:
  name: aws
  runtime: python3.11
  timeout: 10
  httpApi:
    authorizers:
      users:
        type: jwt
        identitySource: $request.header.Authorization
        issuerUrl: {issuer}
        audience: [{aud}]
      keyed:
        type: request
        functionName: gate
        enableSimpleResponses: true
        payloadVersion: '2.0'
        resultTtlInSeconds: 0
        identitySource: [$request.header.X-Token]
  apiGateway:
    apiKeys: [partner]
    usagePlan:
      quota: {{limit: 3, period: DAY}}
      throttle: {{rateLimit: 50, burstLimit: 50}}
functions:
  gate:
    handler: gate.handler
  echo:
    handler: echo.handler
    events:
      - httpApi: {{method: get, path: /me, authorizer: {{name: users, scopes: [me:read]}}}}
      - httpApi: {{method: get, path: /partner, authorizer: {{name: keyed}}}}
      - http: {{method: get, path: private, private: true}}
"""


def test_serverless_authorizers_and_private_routes(server, tmp_path):
    iss = Issuer()
    iss.add("rsa1")
    d = tmp_path / "slsauth"
    d.mkdir()
    shutil.copy(AUTHZ / "gate" / "app.py", d / "gate.py")
    shutil.copy(AUTHZ / "echo" / "app.py", d / "echo.py")
    (d / "serverless.yml").write_text(SLS.format(issuer=iss.url, aud=AUD))
    r = deploy(server, d)
    for line in [
        "mapped       provider.httpApi.authorizers.users  →  [authorizers.users], a JWT authorizer",
        "mapped       provider.httpApi.authorizers.keyed  →  [authorizers.keyed], a Lambda authorizer",
        "mapped       functions.echo.events[0].httpApi.authorizer  →  auth = \"users\"",
        "mapped       functions.echo.events[2].http.private  →  api_key_required = true",
        "mapped       provider.apiGateway.apiKeys  →  nothing: make each key with `ondol keys create",
        "mapped       provider.apiGateway.usagePlan  →  [usage_plans.default]",
    ]:
        assert line in r.stderr, r.stderr
    url = server.http

    # JWT with scopes.
    assert requests.get(f"{url}/me", timeout=30).status_code == 401
    assert requests.get(f"{url}/me", headers=bearer(iss.token()), timeout=30).status_code == 403
    me = requests.get(f"{url}/me", headers=bearer(iss.token(scope="me:read")), timeout=30)
    assert me.status_code == 200, me.text

    # The request authorizer (a function of the service) reads X-Token.
    assert requests.get(f"{url}/partner", timeout=30).status_code == 401
    assert requests.get(f"{url}/partner", headers={"X-Token": "deny"}, timeout=30).status_code == 403
    p = requests.get(f"{url}/partner", headers={"X-Token": "allow-bo"}, timeout=30)
    assert p.status_code == 200, p.text
    assert p.json()["requestContext"]["authorizer"]["lambda"]["user"] == "bo"

    # private: true needs a key, made with `ondol keys create` on the imported plan.
    assert requests.get(f"{url}/private", timeout=30).status_code == 403
    out = server.cli("keys", "create", "partner", "--app", "slsauth", "--plan", "default").stdout
    key = out.split("x-api-key header:")[1].split()[0]
    got = [requests.get(f"{url}/private", headers={"x-api-key": key}, timeout=30).status_code
           for _ in range(4)]
    assert got == [200, 200, 200, 429], got
