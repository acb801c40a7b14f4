"""What the console reads and how a browser gets in, over plain HTTP: the views it
draws (recent invocations, minutes, queues, log text search), its sign-in, and the
management API refusing pages of other sites (CSRF) and DNS-rebound names."""
import http.client
import json
from urllib.parse import urlparse

import boto3
import pytest
import requests

from conftest import FUNCTIONS, zip_dir, wait_until

KEY, SECRET = "AKIDCONSOLEAPI", "console/api/secret"


def invoke(server, name, event):
    r = requests.post(f"{server.api}/2015-03-31/functions/{name}/invocations", data=json.dumps(event), timeout=30)
    return r.headers["x-amzn-RequestId"], r


def test_recent_invocations_minutes_and_log_text(server):
    server.create("seen", "python3.11", code="py_hello")
    first, _ = invoke(server, "seen", {"print": 1, "tag": "needle-Alpha"})
    second, r = invoke(server, "seen", {"raise": "boom"})
    assert r.headers.get("X-Amz-Function-Error") == "Unhandled"
    third, _ = invoke(server, "seen", {})

    recent = requests.get(f"{server.api}/ondol/v1/functions/seen/recent", timeout=10).json()["invocations"]
    assert [i["request_id"] for i in recent] == [third, second, first], "newest first"
    assert [i["outcome"] for i in recent] == ["success", "error", "success"]
    assert recent[2]["init_ms"] is not None and recent[0]["init_ms"] is None, "only the cold one has an init"
    assert all(i["version"] == "$LATEST" and i["duration_ms"] > 0 for i in recent)
    assert len(requests.get(f"{server.api}/ondol/v1/functions/seen/recent?limit=1", timeout=10).json()["invocations"]) == 1

    minutes = requests.get(f"{server.api}/ondol/v1/functions/seen/series?minutes=5", timeout=10).json()["minutes"]
    assert len(minutes) == 5 and minutes[0]["ts_ms"] < minutes[-1]["ts_ms"]
    assert sum(m["invocations"] for m in minutes) == 3
    assert sum(m["errors"] for m in minutes) == 1
    assert sum(m["cold_starts"] for m in minutes) == 1

    def search(**q):
        return requests.get(f"{server.api}/ondol/v1/logs", params={"function": "seen", **q}, timeout=10).json()["entries"]
    found = wait_until(lambda: search(text="NEEDLE-alpha"), what="the printed line")
    assert [e["request_id"] for e in found] == [first], "text matches ignoring case"
    assert search(text="needle-alpha", request_id=second) == []
    assert search(text="no such words anywhere") == []

    missing = requests.get(f"{server.api}/ondol/v1/functions/unseen/recent", timeout=10)
    assert missing.status_code == 404 and "unseen" in missing.json()["message"]


def test_queues_show_waiting_events_and_dead_letters(make_server):
    server = make_server(args=["--async-retry-base", "200ms"])
    server.create("failing", "python3.11", code="py_hello")
    requests.post(f"{server.api}/2015-03-31/functions/failing/invocations",
                  headers={"X-Amz-Invocation-Type": "Event"}, data=json.dumps({"raise": "no"}), timeout=10)

    def row():
        qs = requests.get(f"{server.api}/ondol/v1/queues", timeout=10).json()["queues"]
        return next((q for q in qs if q["function"] == "failing" and q["dead_letters"] == 1), None)
    q = wait_until(row, timeout=30, what="the dead letter in the queue view")
    assert q["depth"] == 0 and q["oldest_age_seconds"] is None


def test_the_console_is_served_from_the_binary_with_a_strict_policy(server):
    r = requests.get(f"{server.api}/console", timeout=10, allow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/console/"
    page = requests.get(f"{server.api}/console/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http://" not in page.text and "https://" not in page.text, "no CDN"
    script = page.text.split('src="')[1].split('"')[0]
    js = requests.get(f"{server.api}{script}", timeout=10)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "immutable" in js.headers["cache-control"]
    assert requests.get(f"{server.api}/console/../../etc/passwd", timeout=10).status_code == 404
    assert requests.get(f"{server.api}/console/nothing.js", timeout=10).status_code == 404


def raw(server, method, path, headers, body=b""):
    u = urlparse(server.api)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    return r.status, r.read()


def test_a_page_on_another_site_cannot_drive_the_api(server):
    """A web page can POST to 127.0.0.1 (a 'simple' cross-site request needs no
    preflight): without this guard it could create and run a function."""
    host = urlparse(server.api).netloc
    create = json.dumps({"FunctionName": "planted", "Runtime": "python3.11", "Handler": "app.handler",
                         "Role": "arn:aws:iam::000000000000:role/x",
                         "Code": {"ZipFile": __import__("base64").b64encode(zip_dir(FUNCTIONS / "py_hello")).decode()}}).encode()
    for extra in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
                  {"Origin": f"http://127.0.0.1:{urlparse(server.api).port + 1}"}):
        status, body = raw(server, "POST", "/2015-03-31/functions",
                           {"Host": host, "Content-Type": "text/plain", **extra}, create)
        assert status == 403, (extra, status, body)
        assert b"refused" in body
    # A name rebound to 127.0.0.1 reads nothing either.
    status, _ = raw(server, "GET", "/ondol/v1/status", {"Host": f"rebound.evil.example:{urlparse(server.api).port}"})
    assert status == 403
    assert raw(server, "GET", "/ondol/v1/status", {"Host": host})[0] == 200
    assert raw(server, "GET", "/ondol/v1/status", {"Host": f"localhost:{urlparse(server.api).port}"})[0] == 200
    lam = server.client()
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == []
    # The console's own requests (same origin) pass.
    own = requests.get(f"{server.api}/ondol/v1/status", timeout=10,
                       headers={"Origin": server.api, "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 200


@pytest.fixture
def guarded(make_server):
    return make_server(env={"ONDOL_ACCESS_KEY_ID": KEY, "ONDOL_SECRET_ACCESS_KEY": SECRET})


def login(server, key, secret):
    return requests.post(f"{server.api}/ondol/v1/console/login", timeout=10,
                         json={"access_key_id": key, "secret_access_key": secret})


def test_sign_in_gives_a_strict_cookie_that_needs_the_console_header(guarded):
    s = guarded
    assert requests.get(f"{s.api}/ondol/v1/console/session", timeout=10).status_code == 401
    assert requests.get(f"{s.api}/ondol/v1/status", timeout=10).status_code == 403, "unsigned"
    assert login(s, KEY, "wrong").status_code == 401
    for garbage in (b"not json", b"{\"access_key_id\": 1}", b"\xff" * 1000, b""):
        r = requests.post(f"{s.api}/ondol/v1/console/login", data=garbage, timeout=10)
        assert r.status_code == 400 and "access_key_id" in r.json()["message"], (garbage[:20], r.text)
        assert "set-cookie" not in r.headers
    assert login(s, "AKIDOTHER", SECRET).status_code == 401
    ok = login(s, KEY, SECRET)
    assert ok.status_code == 204
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    jar = ok.cookies
    console = {"x-ondol-console": "1"}
    assert requests.get(f"{s.api}/ondol/v1/status", cookies=jar, headers=console, timeout=10).status_code == 200
    assert requests.get(f"{s.api}/ondol/v1/console/session", cookies=jar, headers=console, timeout=10).json() == {"auth": "session"}
    # The cookie alone is what a cross-site form would carry: refused.
    assert requests.get(f"{s.api}/ondol/v1/status", cookies=jar, timeout=10).status_code == 403
    forged = {"ondol_console": "0" * 64}
    assert requests.get(f"{s.api}/ondol/v1/status", cookies=forged, headers=console, timeout=10).status_code == 403
    requests.post(f"{s.api}/ondol/v1/console/logout", cookies=jar, headers=console, timeout=10)
    assert requests.get(f"{s.api}/ondol/v1/status", cookies=jar, headers=console, timeout=10).status_code == 403
    # boto3 with the keys is unaffected.
    lam = boto3.client("lambda", endpoint_url=s.api, region_name="us-east-1",
                       aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    assert lam.list_functions()["Functions"] == []


def test_guessing_the_secret_is_locked_out(guarded):
    codes = [login(guarded, KEY, f"guess-{i}").status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429], codes
    locked = login(guarded, KEY, SECRET)
    assert locked.status_code == 429 and "wait a minute" in locked.json()["message"]
    assert "set-cookie" not in locked.headers
    out = guarded.output()
    assert "console sign-in refused" in out and SECRET not in out and "guess-" not in out
