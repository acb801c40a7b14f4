"""`ondol status` / `ondol ls`: after known traffic, the counts are exactly right."""
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import FUNCTIONS

MANIFEST = """
app = "shop"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"
max_concurrency = 1
queue_wait = "100ms"

[[routes]]
route = "GET /hello"
function = "hello"

[[routes]]
route = "GET /hosted"
function = "hello"
host = "api.shop.test"
"""


def test_status_after_known_traffic(server, tmp_path):
    app = tmp_path / "app"
    shutil.copytree(FUNCTIONS / "py_hello", app / "hello")
    (app / "ondol.toml").write_text(MANIFEST)
    server.cli("deploy", str(app), timeout=120)
    [name] = [f["name"] for f in json.loads(server.cli("status", "--json").stdout)["functions"]]
    # Three calls through the front door (the live version, warmed by the deploy),
    # then on $LATEST one error (its cold start), a call that sleeps and one
    # throttled beside it.
    for _ in range(3):
        assert requests.get(server.http + "/hello", timeout=30).status_code == 200
    assert server.invoke(name, {"raise": "boom"}).headers.get("X-Amz-Function-Error")
    with ThreadPoolExecutor(1) as ex:
        # A call that holds the only instance, then one refused beside it.
        slow = ex.submit(server.invoke, name, {"sleep": 1})
        time.sleep(0.3)
        codes = sorted([server.invoke(name, {}).status_code, slow.result().status_code])
    assert codes == [200, 429], codes

    out = server.cli("status", "--json")
    s = json.loads(out.stdout)
    [a] = s["apps"]
    assert (a["app"], a["stage"]) == ("shop", "$default")
    routes = {r["route"]: r for r in a["routes"]}
    assert routes["GET /hosted"]["host"] == "api.shop.test"
    assert routes["GET /hello"]["function"] == name
    [f] = s["functions"]
    assert f["name"] == name and f["versions"] == ["1"]
    assert f["aliases"] == [{"name": "live", "weights": {"1": 1.0}}]
    assert f["instances"]["busy"] == 0 and f["instances"]["starting"] == 0
    assert f["instances"]["idle"] >= 2, f["instances"]
    for window in ("last_5m", "last_hour"):
        w = f[window]
        counts = {k: w[k] for k in ("invocations", "errors", "throttles", "cold_starts")}
        assert counts == {"invocations": 5, "errors": 1, "throttles": 1, "cold_starts": 1}, w
        assert 1000 <= w["p99_ms"] < 1250, w
        assert w["p50_ms"] < 1000 and w["init_p50_ms"] > 0, w

    # The terminal view: aligned columns with the same numbers; `ls` is the same.
    text = server.cli("status").stdout
    assert server.cli("ls").stdout == text
    lines = text.splitlines()
    head = next(l for l in lines if l.startswith("FUNCTION") and "INVOCATIONS" in l)
    row = next(l for l in lines if l.startswith(name) and " 5m " in l)
    assert row.split()[2:5] == ["5", "1", "1"], row
    # Right-aligned under its header: the counts end where INVOCATIONS ends.
    assert row.index(" 5 ") + 2 == head.index("INVOCATIONS") + len("INVOCATIONS"), (head, row)
    assert "GET /hosted (host api.shop.test)" in text and "live=1" in text
