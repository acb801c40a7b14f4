"""Authorizers on routes end to end: JWT authorizers against a JWKS served by a
real HTTP server (tokens signed with real RSA and EC keys by PyJWT), Lambda
authorizers (a python3.11 function) with and without a result cache, CORS
preflights before auth, and manifest errors naming the authorizers."""
import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import Server, wait_until

APP = Path(__file__).parent / "apps" / "authz"
AUD = "shop-client"
ORIGIN = "https://app.example.com"


class Issuer:
    """An OpenID issuer: discovery document and JWKS over real HTTP, counting fetches."""

    def __init__(self):
        self.keys = {}  # kid -> (private key, alg)
        self.published = []  # kids in the JWKS
        self.jwks_fetches = 0
        issuer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    body = {"keys": [issuer.jwk(k) for k in issuer.published]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, kid, kind="rsa", publish=True):
        if kind == "rsa":
            self.keys[kid] = (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")
        else:
            self.keys[kid] = (ec.generate_private_key(ec.SECP256R1()), "ES256")
        if publish:
            self.published.append(kid)

    def jwk(self, kid):
        key, alg = self.keys[kid]
        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        d = json.loads(algo.to_jwk(key.public_key()))
        d.update(kid=kid, alg=alg, use="sig")
        return d

    def token(self, kid="rsa1", **claims):
        key, alg = self.keys[kid]
        now = int(time.time())
        body = {"iss": self.url, "aud": AUD, "sub": "user-1", "iat": now, "exp": now + 300}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def toml(issuer_url):
    return f'''app = "authz"

[functions.echo]
runtime = "python3.11"
handler = "app.handler"
code = "echo"

[functions.gate]
runtime = "python3.11"
handler = "app.handler"
code = "gate"

[functions.gatecached]
runtime = "python3.11"
handler = "app.handler"
code = "gate"

[authorizers.users]
type = "jwt"
issuer = "{issuer_url}"
audience = ["{AUD}"]

[authorizers.gate]
type = "lambda"
function = "gate"
identity_source = ["$request.header.Authorization"]

[authorizers.cached]
type = "lambda"
function = "gatecached"
ttl = "60s"

[http]
cors = {{ allow_origins = ["{ORIGIN}"], allow_methods = ["GET", "PATCH"], allow_headers = ["authorization", "content-type"], max_age = 600 }}

[[routes]]
route = "GET /jwt"
function = "echo"
auth = "users"

[[routes]]
route = "GET /scoped"
function = "echo"
auth = "users"
scopes = ["items:read"]

[[routes]]
route = "GET /v1/jwt"
function = "echo"
payload = "1.0"
auth = "users"

[[routes]]
route = "PATCH /items/{{id}}"
function = "echo"
auth = "users"

[[routes]]
route = "GET /lam"
function = "echo"
auth = "gate"

[[routes]]
route = "GET /v1/lam"
function = "echo"
payload = "1.0"
auth = "gate"

[[routes]]
route = "GET /cached"
function = "echo"
auth = "cached"

[[routes]]
route = "GET /open"
function = "echo"
'''


@pytest.fixture(scope="module")
def issuer():
    i = Issuer()
    i.add("rsa1")
    i.add("ec1", kind="ec")
    yield i
    i.httpd.shutdown()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, issuer):
    app = tmp_path_factory.mktemp("app") / "authz"
    shutil.copytree(APP, app)
    (app / "ondol.toml").write_text(toml(issuer.url))
    s = Server(tmp_path_factory.mktemp("authz") / "data")
    s.cli("deploy", str(app), timeout=120)
    yield s
    s.stop()


def get(srv, path, token=None, method="GET", **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, srv.http + path, headers=headers, timeout=30)


def refused(r, status=401, why=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json() == {"message": "Unauthorized" if status == 401 else "Forbidden"}
    if why:
        h = r.headers["www-authenticate"]
        assert 'error="invalid_token"' in h and why in h, h


def test_valid_tokens_reach_the_function_with_claims_and_scopes(srv, issuer):
    r = get(srv, "/jwt", issuer.token(scope="items:read profile"))
    assert r.status_code == 200, r.text
    a = r.json()["requestContext"]["authorizer"]["jwt"]
    assert a["claims"]["sub"] == "user-1" and a["claims"]["aud"] == AUD
    assert a["scopes"] == ["items:read", "profile"]
    r = get(srv, "/jwt", issuer.token("ec1", sub="ec-user"))
    assert r.status_code == 200, r.text
    assert r.json()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "ec-user"
    r = get(srv, "/v1/jwt", issuer.token(sub="v1-user"))
    assert r.status_code == 200, r.text
    assert r.json()["requestContext"]["authorizer"]["claims"]["sub"] == "v1-user"
    # client_id stands for aud when there is none (Cognito access tokens).
    r = get(srv, "/jwt", issuer.token(aud=None, client_id=AUD))
    assert r.status_code == 200, r.text


def test_bad_tokens_get_401_with_www_authenticate(srv, issuer):
    now = int(time.time())
    refused(get(srv, "/jwt"))
    assert get(srv, "/jwt").headers["www-authenticate"] == "Bearer"
    refused(get(srv, "/jwt", issuer.token(exp=now - 120)), why="the token has expired")
    refused(get(srv, "/jwt", issuer.token(aud="someone-else")), why="the token does not have a valid audience")
    refused(get(srv, "/jwt", issuer.token(iss="https://evil.example.com")), why="valid issuer")
    refused(get(srv, "/jwt", issuer.token(nbf=now + 600)), why="not valid yet")
    refused(get(srv, "/jwt", "not-a-jwt"), why="not a valid JWT")


def test_tampered_none_and_hmac_confusion_are_refused(srv, issuer):
    head, body, sig = issuer.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(get(srv, "/jwt", f"{head}.{forged}.{sig}"), why="signature is invalid")
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    none = f'{b64({"alg": "none", "typ": "JWT", "kid": "rsa1"})}.{body}.'
    refused(get(srv, "/jwt", none))
    # HS256 keyed with the issuer's public key (the classic algorithm confusion).
    pem = issuer.keys["rsa1"][0].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing = f'{b64({"alg": "HS256", "typ": "JWT", "kid": "rsa1"})}.{body}'
    mac = base64.urlsafe_b64encode(hmac.new(pem, signing.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    refused(get(srv, "/jwt", f"{signing}.{mac}"), why="algorithm is not allowed")


def test_missing_scope_is_403(srv, issuer):
    r = get(srv, "/scoped", issuer.token(scope="profile"))
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}, r.text
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert get(srv, "/scoped", issuer.token()).status_code == 403, "no scope claim at all"
    r = get(srv, "/scoped", issuer.token(scp=["items:read"]))
    assert r.status_code == 200, r.text


def test_rotated_key_is_picked_up_and_unknown_kids_cannot_flood_the_issuer(srv, issuer):
    assert get(srv, "/jwt", issuer.token()).status_code == 200
    issuer.add("rsa2")
    fresh = issuer.token("rsa2", sub="rotated")
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(get(srv, "/jwt", fresh)),
                   timeout=15, interval=0.5, what="the rotated key")
    assert r.json()["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "rotated"
    before = issuer.jwks_fetches
    issuer.add("ghost", publish=False)
    for _ in range(40):
        bogus = jwt.encode({"iss": issuer.url, "aud": AUD, "exp": int(time.time()) + 60},
                           issuer.keys["ghost"][0], algorithm="RS256",
                           headers={"kid": uuid.uuid4().hex})
        refused(get(srv, "/jwt", bogus), why="signing key is unknown")
    assert issuer.jwks_fetches - before <= 1, f"{issuer.jwks_fetches - before} JWKS fetches for 40 bad kids"


def test_cors_preflight_for_patch_needs_no_token(srv, issuer):
    out = subprocess.run(
        ["curl", "-si", "-X", "OPTIONS", srv.http + "/items/7", "-H", f"Origin: {ORIGIN}",
         "-H", "Access-Control-Request-Method: PATCH",
         "-H", "Access-Control-Request-Headers: authorization,content-type"],
        capture_output=True, text=True, timeout=30).stdout.lower()
    assert out.startswith("http/1.1 204"), out
    assert f"access-control-allow-origin: {ORIGIN}" in out, out
    assert "access-control-allow-methods: get,patch" in out, out
    assert "access-control-allow-headers: authorization,content-type" in out, out
    # The refusal itself carries CORS headers, so the browser can show it.
    r = get(srv, "/items/7", method="PATCH", Origin=ORIGIN)
    refused(r)
    assert r.headers["access-control-allow-origin"] == ORIGIN
    r = get(srv, "/items/7", issuer.token(), method="PATCH", Origin=ORIGIN)
    assert r.status_code == 200 and r.json()["pathParameters"] == {"id": "7"}, r.text


def calls(srv, function, token=""):
    """Times the authorizer was asked (about `token`, if given), from its log lines."""
    return sum(1 for e in srv.logs(function=function) if f"AUTHZ-CALL {token}" in e["line"])


def test_lambda_authorizer_allows_denies_and_fails(srv):
    r = requests.get(srv.http + "/lam", headers={"Authorization": "allow-ana"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["requestContext"]["authorizer"]["lambda"] == {"user": "ana", "tier": 3}
    r = requests.get(srv.http + "/lam", headers={"Authorization": "deny"}, timeout=30)
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}, r.text
    r = requests.get(srv.http + "/lam", headers={"Authorization": "boom"}, timeout=30)
    assert r.status_code == 500 and r.json() == {"message": "Internal Server Error"}, r.text
    wait_until(lambda: calls(srv, "authz-gate") >= 3, what="authorizer logs")
    seen = calls(srv, "authz-gate")
    refused(requests.get(srv.http + "/lam", timeout=30))
    time.sleep(1)
    assert calls(srv, "authz-gate") == seen, "a request without identity never reaches the authorizer"
    assert requests.get(srv.http + "/open", timeout=30).status_code == 200


def test_token_authorizer_policy_on_payload_1_0(srv):
    r = requests.get(srv.http + "/v1/lam", headers={"Authorization": "allow-bo"}, timeout=30)
    assert r.status_code == 200, r.text
    a = r.json()["requestContext"]["authorizer"]
    assert a["principalId"] == "bo" and a["user"] == "bo" and a["tier"] == 3
    r = requests.get(srv.http + "/v1/lam", headers={"Authorization": "deny"}, timeout=30)
    assert r.status_code == 403, r.text


def test_lambda_answers_are_cached_per_identity_only_with_a_ttl(srv):
    for path, fn, expected in (("/lam", "authz-gate", 3), ("/cached", "authz-gatecached", 1)):
        token = f"allow-{uuid.uuid4().hex[:8]}"
        for _ in range(3):
            r = requests.get(srv.http + path, headers={"Authorization": token}, timeout=30)
            assert r.status_code == 200, r.text
        wait_until(lambda: calls(srv, fn, token) >= expected, what=f"{fn} logs")
        time.sleep(1)
        assert calls(srv, fn, token) == expected, (fn, calls(srv, fn, token))
    # Another identity is asked on its own: a cached allow never covers it.
    r = requests.get(srv.http + "/cached", headers={"Authorization": "deny"}, timeout=30)
    assert r.status_code == 403, r.text
    assert wait_until(lambda: calls(srv, "authz-gatecached", "deny") == 1, what="the deny asked")
    r = requests.get(srv.http + "/cached", headers={"Authorization": token}, timeout=30)
    assert r.status_code == 200


def test_unknown_authorizer_is_a_manifest_error(tmp_path, srv):
    app = tmp_path / "bad"
    shutil.copytree(APP, app)
    (app / "ondol.toml").write_text(toml("https://auth.example.com").replace('auth = "gate"', 'auth = "gaet"', 1))
    r = srv.cli("deploy", str(app), check=False)
    assert r.returncode == 2, r.stderr
    assert "ondol.toml: routes[4].auth: expected one of the authorizers defined in this file" in r.stderr, r.stderr
    assert '"cached", "gate", "users"' in r.stderr and 'did you mean "gate"?' in r.stderr, r.stderr
