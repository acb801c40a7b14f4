"""API keys and usage plans at the front door (issue 16): `ondol keys
create|list|revoke`, `api_key_required` routes answering 403 as API Gateway does,
usage plans throttling (429 Too Many Requests) and a daily quota (429 Limit
Exceeded) that survives a restart; the key's id reaches the function; key values
never reach the server log."""
import json
import signal
import time

import requests

from conftest import wait_until

ECHO = '''
import json
def handler(event, context):
    ident = event["requestContext"].get("identity") or {}
    return {"statusCode": 200, "body": json.dumps({
        "apiKeyId": ident.get("apiKeyId"), "apiKey": ident.get("apiKey"),
        "version": event.get("version", "1.0")})}
'''

MANIFEST = '''
app = "keyed"

[functions.echo]
runtime = "python3.11"
handler = "app.handler"
code = "echo"

[[routes]]
route = "GET /open"
function = "echo"

[[routes]]
route = "GET /rest"
function = "echo"
payload = "1.0"
api_key_required = true

[[routes]]
route = "GET /http"
function = "echo"
api_key_required = true

[usage_plans.fast]
rate = 2
burst = 2

[usage_plans.daily]
quota = { limit = 3, period = "day" }
'''


def deploy(server, tmp_path):
    app = tmp_path / "keyed"
    (app / "echo").mkdir(parents=True)
    (app / "echo" / "app.py").write_text(ECHO)
    (app / "ondol.toml").write_text(MANIFEST)
    server.cli("deploy", str(app), timeout=120)


def create(server, name, *args):
    out = server.cli("keys", "create", name, *args, "--json").stdout
    return json.loads(out)


def get(server, path, key=None, **kw):
    headers = {"x-api-key": key} if key is not None else {}
    return requests.get(server.http + path, headers=headers, timeout=30, **kw)


def test_keys_guard_routes_and_reach_the_function(server, tmp_path):
    deploy(server, tmp_path)
    plain = server.cli("keys", "create", "anywhere").stdout
    value = plain.split("x-api-key header:")[1].split()[0]
    assert len(value) >= 32 and value.isalnum(), plain
    k = create(server, "alice", "--app", "keyed")
    assert len(k["value"]) == 40 and k["prefix"] == k["value"][:8]

    assert get(server, "/open").status_code == 200, "a route without the flag needs no key"
    for bad in (None, "", "x" * 40, k["value"][:-1] + ("A" if k["value"][-1] != "A" else "B"),
                k["value"].lower() if k["value"] != k["value"].lower() else k["value"].upper()):
        r = get(server, "/rest", bad)
        assert r.status_code == 403 and r.json() == {"message": "Forbidden"}, (bad, r.text)
    # A huge header is refused like any wrong key, without trouble.
    r = get(server, "/rest", "k" * 16_000)
    assert r.status_code == 403, r.status_code

    r = get(server, "/rest", k["value"])
    assert r.status_code == 200, r.text
    assert r.json() == {"apiKeyId": k["id"], "apiKey": k["value"], "version": "1.0"}
    r = get(server, "/http", value)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "2.0" and r.json()["apiKeyId"]

    listed = server.cli("keys", "list").stdout
    assert "alice" in listed and "anywhere" in listed and k["id"] in listed, listed
    assert k["prefix"] in listed and k["value"] not in listed, listed
    as_json = json.loads(server.cli("keys", "list", "--json").stdout)
    assert {x["name"] for x in as_json} == {"alice", "anywhere"}
    assert all("value" not in x and "hash" not in x for x in as_json), as_json

    # Revoked: refused at once.
    assert "Revoked" in server.cli("keys", "revoke", "alice").stdout
    r = get(server, "/rest", k["value"])
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}
    again = server.cli("keys", "revoke", "alice", check=False)
    assert again.returncode == 2 and "not found" in again.stderr, again.stderr
    dup = server.cli("keys", "create", "anywhere", check=False)
    assert dup.returncode == 2 and "already exist" in dup.stderr, dup.stderr
    # A plan must be one the app defines.
    bad = server.cli("keys", "create", "x", "--app", "keyed", "--plan", "gold", check=False)
    assert bad.returncode == 2 and "usage_plans.gold" in bad.stderr, bad.stderr

    # Key values never reach the server log.
    server.stop()
    log = server.output()
    assert "alice" in log, "the key is logged by name"
    assert k["value"] not in log and value not in log


def test_a_plan_throttles_then_recovers(server, tmp_path):
    deploy(server, tmp_path)
    k = create(server, "burst", "--app", "keyed", "--plan", "fast")
    codes = []
    for _ in range(8):
        r = get(server, "/rest", k["value"])
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.json() == {"message": "Too Many Requests"}, r.text
            assert int(r.headers["retry-after"]) >= 1
    assert codes[:2] == [200, 200] and 429 in codes, codes
    # Another key is not throttled by this one's bucket.
    other = create(server, "calm", "--app", "keyed", "--plan", "fast")
    assert get(server, "/rest", other["value"]).status_code == 200
    time.sleep(1.2)
    assert get(server, "/rest", k["value"]).status_code == 200, "the bucket refills"


def test_a_daily_quota_is_kept_across_a_restart(make_server, tmp_path):
    server = make_server(tmp_path / "data")
    deploy(server, tmp_path)
    k = create(server, "bob", "--app", "keyed", "--plan", "daily")
    for _ in range(3):
        assert get(server, "/rest", k["value"]).status_code == 200
    r = get(server, "/rest", k["value"])
    assert r.status_code == 429 and r.json() == {"message": "Limit Exceeded"}, r.text
    assert 1 <= int(r.headers["retry-after"]) <= 86_400
    listed = server.cli("keys", "list").stdout
    assert "3/3 per day" in listed, listed

    assert server.stop(signal.SIGTERM) == 0
    again = make_server(tmp_path / "data")
    r = get(again, "/rest", k["value"])
    assert r.status_code == 429 and r.json() == {"message": "Limit Exceeded"}, r.text
    assert "3/3 per day" in again.cli("keys", "list").stdout
    # Counters are flushed while serving too, not only at shutdown.
    other = create(again, "carol", "--app", "keyed", "--plan", "daily")
    assert get(again, "/rest", other["value"]).status_code == 200
    db = tmp_path / "data" / "ondol.db"

    def flushed():
        import sqlite3
        with sqlite3.connect(db) as c:
            return c.execute("SELECT used FROM api_key_usage WHERE id = ?", (other["id"],)).fetchone()
    assert wait_until(flushed, timeout=15, what="the periodic flush") == (1,)
