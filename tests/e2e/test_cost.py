"""The bill: usage counted per version, priced as AWS would, kept across restarts;
the what-if estimator; budgets that warn and call an alert function once."""

import io
import json
import re
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import BIN, wait_until

SLEEPER = """
import time
def handler(event, context):
    time.sleep(event.get("ms", 0) / 1000)
    return {"ok": True}
"""

NOTIFY = """
import json
def handler(event, context):
    print("BUDGET-ALERT " + json.dumps(event))
    return {}
"""

# us-east-1, free tier off (prices/aws-2026-11.toml).
PER_REQUEST = 0.20 / 1e6
PER_GB_S = 0.0000166667
PROVISIONED_DURATION_PER_GB_S = 0.0000097222


def code(src):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", src)
    return buf.getvalue()


def billed_ms(server, name):
    lines = [e["line"] for e in server.logs(function=name, limit=10000)]
    return [int(m.group(1)) for l in lines if (m := re.search(r"Billed Duration: (\d+) ms", l))]


def cost(server, *args):
    return json.loads(server.cli("cost", "--json", "--no-free-tier", *args).stdout)


def test_cost_matches_report_lines_and_survives_restart(make_server, tmp_path):
    s = make_server(tmp_path / "data")
    s.create("sleeper", "python3.11", zip_bytes=code(SLEEPER), memory=1536)
    lam = s.client()
    n = 12
    for i in range(n):
        r = lam.invoke(FunctionName="sleeper", Payload=json.dumps({"ms": 50 + 10 * i}))
        assert r["StatusCode"] == 200 and "FunctionError" not in r
    billed = wait_until(lambda: (b := billed_ms(s, "sleeper")) and len(b) == n and b, what="REPORT lines")
    gb_s = sum(billed) * 1536 / 1024 / 1000
    hand = n * PER_REQUEST + gb_s * PER_GB_S

    v = cost(s)
    row = [f for f in v["functions"] if f["function"] == "sleeper"]
    assert len(row) == 1 and row[0]["requests"] == n and row[0]["billed_ms"] == sum(billed)
    lines = {l["item"]: l for l in v["month_to_date"]["bill"]["lines"]}
    assert lines["lambda_requests"]["formula"] == f"{n} req × $0.20/1M = ${n * PER_REQUEST:.6f}"
    assert abs(lines["lambda_duration"]["usd"] - gb_s * PER_GB_S) < 1e-12
    assert abs(v["month_to_date"]["bill"]["total_usd"] - hand) < 1e-12
    assert round(v["month_to_date"]["bill"]["total_usd"], 2) == round(hand, 2)
    assert v["projected"]["bill"]["total_usd"] >= v["month_to_date"]["bill"]["total_usd"]

    # Invocations accepted just before a SIGTERM are kept (flushed at shutdown),
    # and the month's rows survive the restart.
    for _ in range(3):
        lam.invoke(FunctionName="sleeper", Payload=json.dumps({"ms": 5}))
    assert s.stop() == 0
    s2 = make_server(tmp_path / "data")
    v2 = cost(s2)
    row = [f for f in v2["functions"] if f["function"] == "sleeper"][0]
    assert row["requests"] == n + 3
    assert row["billed_ms"] == sum(billed_ms(s2, "sleeper"))
    text = s2.cli("cost", "--no-free-tier").stdout
    assert "sleeper" in text and "Month to date" in text and "Projected to month end" in text


def reports(server, rids):
    """{request id: (billed ms, cold)} from the REPORT lines of these invocations."""
    out = {}
    for rid in rids:
        report = next(l for l in server.request_log(rid) if l.startswith("REPORT"))
        out[rid] = (int(re.search(r"Billed Duration: (\d+) ms", report).group(1)),
                    "Init Duration" in report)
    return out


def invoke(lam, ms):
    r = lam.invoke(FunctionName="kept", Payload=json.dumps({"ms": ms}))
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    return r["ResponseMetadata"]["RequestId"]


def burst(lam, sleeps):
    """Invocations overlapping one another, started 150 ms apart."""
    with ThreadPoolExecutor(len(sleeps)) as ex:
        futures = []
        for ms in sleeps:
            futures.append(ex.submit(invoke, lam, ms))
            time.sleep(0.15)
        return [f.result() for f in futures]


def duration_lines(server):
    v = cost(server)
    row = next(f for f in v["functions"] if f["function"] == "kept")
    return row, {l["item"]: l for l in v["month_to_date"]["bill"]["lines"]}


def test_invocations_within_min_warm_are_billed_at_the_provisioned_rate(make_server, tmp_path):
    s = make_server(tmp_path / "data")
    s.create("kept", "python3.11", zip_bytes=code(SLEEPER), memory=1024, ondol={"MinWarm": 1})
    wait_until(lambda: s.pool("kept").get("ready") == 1, timeout=30, what="the provisioned instance")
    lam = s.client()
    n = 8
    got = reports(s, [invoke(lam, 20 + 15 * i) for i in range(n)])
    assert not any(cold for _, cold in got.values()), "all served by the kept instance"
    billed = sum(ms for ms, _ in got.values())
    gb_s = billed * 1024 / 1024 / 1000
    row, lines = duration_lines(s)
    assert row["requests"] == n and row["billed_ms"] == billed == row["provisioned_billed_ms"], row
    pd = lines["provisioned_duration"]
    assert abs(pd["usd"] - gb_s * PROVISIONED_DURATION_PER_GB_S) < 1e-9, pd
    assert round(pd["usd"], 2) == round(gb_s * PROVISIONED_DURATION_PER_GB_S, 2)
    assert pd["formula"].startswith(f"{gb_s:,.3f}".rstrip("0").rstrip(".") + " GB-s × $0.0000097222"), pd
    assert lines["lambda_duration"]["usd"] == 0, lines["lambda_duration"]
    assert abs(lines["lambda_requests"]["usd"] - n * PER_REQUEST) < 1e-12
    assert lines["provisioned_concurrency"]["usd"] > 0, "and the kept instance's time"

    # Three at once: the kept instance serves one, two new instances start on
    # demand (their REPORT has an Init Duration).
    first = reports(s, burst(lam, [700, 600, 500]))
    assert sorted(cold for _, cold in first.values()) == [False, True, True], first
    # Three at once again, now all warm (three instances): at most min_warm = 1
    # runs provisioned, the other two spill to on demand.
    second = reports(s, burst(lam, [700, 600, 500]))
    assert not any(cold for _, cold in second.values()), second
    row, lines = duration_lines(s)
    extra = row["provisioned_billed_ms"] - billed
    warm_first = sum(ms for ms, cold in first.values() if not cold)
    assert extra - warm_first in [ms for ms, _ in second.values()], (extra, first, second)
    on_demand_ms = sum(ms for ms, _ in [*first.values(), *second.values()]) - extra
    assert row["billed_ms"] - row["provisioned_billed_ms"] == on_demand_ms, row
    od = on_demand_ms * 1024 / 1024 / 1000 * PER_GB_S
    pd = (billed + extra) / 1000 * PROVISIONED_DURATION_PER_GB_S
    assert abs(lines["lambda_duration"]["usd"] - od) < 1e-9, lines["lambda_duration"]
    assert abs(lines["provisioned_duration"]["usd"] - pd) < 1e-9, lines["provisioned_duration"]
    total = sum(l["usd"] for l in lines.values())
    assert abs(total - (n + 6) * PER_REQUEST - od - pd - lines["provisioned_concurrency"]["usd"]) < 1e-12
    text = s.cli("cost", "--no-free-tier").stdout
    assert "IN MIN_WARM" in text and "GB-s × $0.0000097222" in text, text


def test_estimator_figures_match_their_formulas():
    r = subprocess.run([BIN, "cost", "estimate", "--requests-per-day", "86400", "--duration", "120ms",
                        "--memory", "512", "--keep-warm", "2m", "--provisioned", "2", "--stages", "3",
                        "--json"], capture_output=True, text=True, check=True)
    e = json.loads(r.stdout)
    sc = {s["name"]: s for s in e["scenarios"]}
    od = {l["item"]: l for l in sc["on_demand"]["bill"]["lines"]}
    assert od["lambda_requests"]["formula"] == "2,592,000 req × $0.20/1M = $0.52"
    assert abs(od["lambda_duration"]["usd"] - 2_592_000 * 0.12 * 0.5 * PER_GB_S) < 1e-9
    pc = {l["item"]: l for l in sc["provisioned"]["bill"]["lines"]}
    assert abs(pc["provisioned_concurrency"]["usd"] - 2 * 0.5 * 30 * 86400 * 0.0000041667) < 1e-9
    kw = {l["item"]: l for l in sc["keep_warm"]["bill"]["lines"]}
    assert kw["lambda_requests"]["quantity"] == 2_592_000 + 30 * 1440 / 2
    assert abs(sc["stages"]["bill"]["total_usd"] - 3 * sc["on_demand"]["bill"]["total_usd"]) < 1e-9
    assert e["ondol_warm_mb"] == 2 * 3 * 512
    text = subprocess.run([BIN, "cost", "estimate", "--requests-per-day", "86400", "--duration",
                           "120ms", "--memory", "512"], capture_output=True, text=True, check=True).stdout
    assert "2,592,000 req × $0.20/1M = $0.52" in text


def test_budget_warns_and_alerts_once_per_threshold(make_server, tmp_path):
    s = make_server(tmp_path / "data", args=["--budget-usd", "0.0000001"])
    s.create("b-work", "python3.11", zip_bytes=code(SLEEPER), memory=512)
    s.create("b-notify", "python3.11", zip_bytes=code(NOTIFY))
    app = {"app": "b", "routes": [], "max_request_body": 1000, "cors": None,
           "budget": {"monthly_usd": 0.0000001, "alert_function": "b-notify"}}
    r = requests.put(f"{s.api}/ondol/v1/apps/b", json=app, timeout=10)
    assert r.status_code == 204, r.text
    assert s.client().invoke(FunctionName="b-work", Payload=b"{}")["StatusCode"] == 200

    def alerts():
        return [json.loads(e["line"].split("BUDGET-ALERT ", 1)[1])
                for e in s.logs(function="b-notify") if "BUDGET-ALERT " in e["line"]]
    got = wait_until(lambda: len(alerts()) >= 2 and alerts(), timeout=30, what="two budget alerts")
    assert sorted(a["threshold_percent"] for a in got) == [80, 100]
    assert all(a["budget"]["scope"] == "app:b" for a in got)
    out = s.output()
    assert re.search(r"budget: 80% of the month's budget reached.*scope=node|scope=node.*budget: 80%", out)
    assert "scope=app:b" in out
    time.sleep(12)  # two more judgements: nothing fires again
    assert len(alerts()) == 2
    assert out.count("budget: 100%") == s.output().count("budget: 100%")
    states = {b["scope"]: b for b in cost(s)["budgets"]}
    assert states["node"]["state"] == "exceeded" and states["app:b"]["state"] == "exceeded"
    # And for Prometheus, which alerts on spent / monthly.
    text = requests.get(f"{s.api}/metrics", timeout=10).text
    spent = re.search(r'^ondol_budget_spent_usd\{scope="node"\} (\S+)$', text, re.M)
    monthly = re.search(r'^ondol_budget_monthly_usd\{scope="app:b"\} (\S+)$', text, re.M)
    assert spent and float(spent.group(1)) >= 0.0000001, text[-2000:]
    assert monthly and float(monthly.group(1)) == 0.0000001, text[-2000:]


FRONT = '''
app = "fd"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"

[[routes]]
route = "GET /hi"
function = "hello"

[budget]
monthly_usd = 5
'''


def test_front_door_requests_are_billed_and_the_manifest_budget_arrives(make_server, tmp_path):
    s = make_server(tmp_path / "data")
    app = tmp_path / "app"
    (app / "hello").mkdir(parents=True)
    (app / "hello" / "app.py").write_text(SLEEPER)
    (app / "ondol.toml").write_text(FRONT)
    s.cli("deploy", str(app), timeout=120)
    for _ in range(4):
        r = requests.get(f"{s.http}/hi", timeout=30)
        assert r.status_code == 200, r.text
    # Invoked directly, not through a route: Lambda's bill only.
    s.client().invoke(FunctionName="fd-hello", Qualifier="live", Payload=b"{}")
    v = cost(s)
    rows = [f for f in v["functions"] if f["function"] == "fd-hello"]
    assert sum(r["http_requests"] for r in rows) == 4, rows
    assert sum(r["requests"] for r in rows) == 5, rows  # a warm-up runs no handler: not billed
    lines = {l["item"]: l for l in v["month_to_date"]["bill"]["lines"]}
    assert lines["http_api_requests"]["formula"].startswith("4 req × $1.00/1M"), lines
    # The manifest's [budget] reached the server with the app.
    budgets = {b["scope"]: b for b in v["budgets"]}
    assert budgets["app:fd"]["monthly_usd"] == 5 and budgets["app:fd"]["state"] == "ok", budgets
