"""The front door routes on the normalised path: dot segments (also `%2e`), `\\`
and repeated slashes are resolved before routing and before the stage prefix is
stripped, and events and web-mode upstreams see that same path. Requests go out
through `http.client`, which sends the path as written (requests and curl would
resolve the dot segments themselves)."""
import http.client
import json
from urllib.parse import urlsplit

import pytest

from conftest import Server, wait_until

ECHO = '''
import json

def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"who": "echo", "event": event})}
'''

# A plain http.server: `self.path` is the request line's target, byte for byte.
SITE = '''
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"who": "site", "path": self.path,
                           "prefix": self.headers.get("x-forwarded-prefix")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''

MANIFEST = '''
app = "paths"

[functions.echo]
runtime = "python3.11"
handler = "app.handler"
code = "echo"

[functions.site]
runtime = "web"
code = "site"
command = ["python3", "server.py"]
readiness_path = "/healthz"

[[routes]]
route = "ANY /echo/{proxy+}"
function = "echo"

[[routes]]
route = "ANY /v1/{proxy+}"
function = "echo"
payload = "1.0"

[[routes]]
route = "ANY /site/{proxy+}"
function = "site"

[[routes]]
route = "$default"
function = "site"

[stages.prod]
variables = { tier = "prod" }
'''


def write_app(root):
    """The test app (echo function, web-mode site, a prod stage) under root/app."""
    app = root / "app"
    (app / "echo").mkdir(parents=True)
    (app / "site").mkdir()
    (app / "echo" / "app.py").write_text(ECHO)
    (app / "site" / "server.py").write_text(SITE)
    (app / "ondol.toml").write_text(MANIFEST)
    return app


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    app = write_app(root)
    s = Server(root / "data")
    s.cli("deploy", str(app), timeout=120)
    s.cli("deploy", str(app), "--stage", "prod", timeout=120)
    yield s
    s.stop()


def raw_get(gw, path, host=None):
    """GET with the path sent exactly as written; the JSON answer."""
    u = urlsplit(gw.http)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body)
        return json.loads(body)
    finally:
        conn.close()


def site_path(gw, path):
    """The request target the web-mode upstream received for `path`."""
    out = raw_get(gw, path)
    assert out["who"] == "site", (path, out)
    return out["path"]


def echo_event(gw, path):
    """The event the echo function received for `path`."""
    out = raw_get(gw, path)
    assert out["who"] == "echo", (path, out)
    return out["event"]


def test_dot_segments_cannot_jump_between_routes(gw):
    assert site_path(gw, "/echo/../site/x") == "/site/x"
    assert site_path(gw, "/echo/%2e%2e/site/x") == "/site/x"
    assert echo_event(gw, "/site/.%2E/echo/y")["rawPath"] == "/echo/y"
    assert site_path(gw, "/echo/..") == "/", "`..` to the root is the root, served by $default"


def test_payload_v2_event_sees_the_normalised_path(gw):
    ev = echo_event(gw, "/echo/a/./b/../c?p=/../q&e=%2e%2e")
    assert ev["rawPath"] == "/echo/a/c"
    assert ev["routeKey"] == "ANY /echo/{proxy+}"
    assert ev["pathParameters"] == {"proxy": "a/c"}
    assert ev["requestContext"]["http"]["path"] == "/echo/a/c"
    assert ev["rawQueryString"] == "p=/../q&e=%2e%2e", "the query string is untouched"
    assert ev["queryStringParameters"] == {"p": "/../q", "e": ".."}


def test_payload_v1_event_sees_the_normalised_path(gw):
    ev = echo_event(gw, "/v1/a/%2e%2e/b/./c")
    assert ev["path"] == "/v1/b/c"
    assert ev["requestContext"]["path"] == "/v1/b/c"
    assert ev["pathParameters"] == {"proxy": "b/c"}
    assert ev["resource"] == "/v1/{proxy+}"


@pytest.mark.parametrize("path", [
    "/site/../../etc/passwd",
    "/site/%2e%2e/%2e%2e/etc/passwd",
    "/site/%2E%2E/%2E%2E/etc/passwd",
    "/site/.%2e/%2e./etc/passwd",
    "/site/x/%2e/../../../../etc/passwd",
    "/site/..\\..\\etc\\passwd",
])
def test_traversal_reaches_the_upstream_resolved(gw, path):
    got = site_path(gw, path)
    assert got == "/etc/passwd", (path, got)


def test_upstream_query_is_untouched(gw):
    assert site_path(gw, "/site/../../etc/passwd?f=../x&g=%2e%2e%2F") == "/etc/passwd?f=../x&g=%2e%2e%2F"


def test_encoded_slashes_stay_data(gw):
    # Not a separator, so no dot segments here: passed on byte for byte.
    assert site_path(gw, "/site/a%2F..%2F..%2Fetc%2Fpasswd") == "/site/a%2F..%2F..%2Fetc%2Fpasswd"
    assert site_path(gw, "/site/..%2f..%2fetc") == "/site/..%2f..%2fetc"
    # A segment holding one is one segment: `..` removes all of it.
    assert site_path(gw, "/site/a%2Fb/../c") == "/site/c"
    ev = echo_event(gw, "/echo/a%2Fb/c/../d")
    assert ev["rawPath"] == "/echo/a%2Fb/d"
    assert ev["pathParameters"] == {"proxy": "a/b/d"}


def test_repeated_slashes_and_backslashes(gw):
    ev = echo_event(gw, "//echo//x///y")
    assert ev["rawPath"] == "/echo/x/y" and ev["pathParameters"] == {"proxy": "x/y"}
    assert site_path(gw, "/echo\\..\\site\\x") == "/site/x"
    assert site_path(gw, "//evil.example/x") == "/evil.example/x", "never a scheme-relative target"
    assert site_path(gw, "/site/a%5C..%5Cb") == "/site/a%5C..%5Cb", "an encoded backslash is data"


def test_normalised_before_the_stage_prefix_is_stripped(gw):
    ev = echo_event(gw, "/prod/./echo/x/%2e%2e/y")
    assert (ev["requestContext"]["stage"], ev["rawPath"]) == ("prod", "/echo/y")
    assert ev["stageVariables"] == {"tier": "prod"}
    # Out of the stage by `..`: the URL means the root stage's /echo/x.
    ev = echo_event(gw, "/prod/../echo/x")
    assert (ev["requestContext"]["stage"], ev["rawPath"]) == ("$default", "/echo/x")
    # Into a stage by `..`: the URL means /prod/echo/x.
    ev = echo_event(gw, "/echo/%2e%2e/prod/echo/x")
    assert (ev["requestContext"]["stage"], ev["rawPath"]) == ("prod", "/echo/x")
    # A web-mode upstream under the prefix: its own, resolved path and the prefix.
    out = raw_get(gw, "/prod/echo/../site/y")
    assert (out["who"], out["path"], out["prefix"]) == ("site", "/site/y", "/prod"), out
    out = raw_get(gw, "/prod/site/../../../etc/passwd")
    assert (out["who"], out["path"], out["prefix"]) == ("site", "/etc/passwd", None), out


def test_function_url_paths_are_normalised(gw):
    url = gw.client().create_function_url_config(FunctionName="paths-site", AuthType="NONE")["FunctionUrl"]
    host = urlsplit(url).netloc
    out = raw_get(gw, "/a/../../%2e%2e/etc/passwd?x=..", host=host)
    assert (out["who"], out["path"]) == ("site", "/etc/passwd?x=.."), out


def test_a_stalled_body_is_a_408_and_invokes_nothing(tmp_path):
    """A body that stops arriving is the client's fault (408), not a size limit (413),
    and the function is never invoked with half a body."""
    import socket
    import time
    root = tmp_path
    app = write_app(root)
    s = Server(root / "data", ["--body-timeout", "1s"])
    try:
        s.cli("deploy", str(app), timeout=120)
        u = urlsplit(s.http)
        c = socket.create_connection((u.hostname, u.port))
        c.sendall(b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
        c.settimeout(15)
        t0 = time.time()
        resp = c.recv(65536)
        assert resp.startswith(b"HTTP/1.1 408"), resp[:200]
        assert time.time() - t0 < 10
        c.close()
        # One whole request afterwards: its START is the only one.
        assert raw_get(s, "/echo/ok")["who"] == "echo"
        starts = wait_until(lambda: [e for e in s.logs(function="paths-echo")
                                     if e["line"].startswith("START")], what="a START line")
        time.sleep(0.5)
        assert len([e for e in s.logs(function="paths-echo") if e["line"].startswith("START")]) == 1, starts
    finally:
        s.stop()
