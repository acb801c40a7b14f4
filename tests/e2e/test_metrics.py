"""Prometheus metrics: a real Prometheus server scrapes ondol and answers queries,
and the metrics listener of its own refuses a scrape without its bearer token."""
import json
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import BIN, FUNCTIONS, wait_until

PROMETHEUS = shutil.which("prometheus")
TOKEN = "scrape-me-4f1c"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(prom, expr):
    r = requests.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    return {json.dumps(x["metric"], sort_keys=True): float(x["value"][1])
            for x in r.json()["data"]["result"]}


def scalar(prom, expr):
    """The value of a query with one series, or None while there is none."""
    got = query(prom, expr)
    return next(iter(got.values())) if len(got) == 1 else None


@pytest.fixture
def prometheus(tmp_path):
    """Starts Prometheus on a config the test writes; yields (start, url)."""
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (scripts/test.sh installs Debian's package)")
    procs = []

    def start(scrape_configs):
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(json.dumps({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                                   "scrape_configs": scrape_configs}))
        log = open(tmp_path / "prometheus.log", "w")
        p = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                              f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(url), timeout=30, what="prometheus ready")
        return url

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def _ready(url):
    try:
        return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def drive_traffic(server):
    """1 cold + 2 warm successes, 1 error, 1 throttle, 1 front-door request."""
    server.create("m", "python3.11", code="py_hello",
                  ondol={"MaxConcurrency": 1, "QueueWaitMs": 100})
    for _ in range(3):
        assert server.invoke("m", {}).status_code == 200
    r = server.invoke("m", {"raise": "boom"})
    assert r.status_code == 200 and r.headers.get("X-Amz-Function-Error") == "Unhandled", r.text
    with ThreadPoolExecutor(1) as ex:
        # A call that holds the only instance, then one refused beside it.
        slow = ex.submit(server.invoke, "m", {"sleep": 1})
        time.sleep(0.3)
        codes = sorted([server.invoke("m", {}).status_code, slow.result().status_code])
    assert codes == [200, 429], codes
    c = server.client()
    url = c.create_function_url_config(FunctionName="m", AuthType="NONE")["FunctionUrl"]
    host = url.split("//")[1].split(":")[0]
    port = server.http.rsplit(":", 1)[1]
    assert requests.get(f"http://127.0.0.1:{port}/x", headers={"Host": host}).status_code == 200


def test_prometheus_scrapes_invocations_cold_starts_throttles_and_the_front_door(
        make_server, prometheus):
    mport = free_port()
    server = make_server(args=["--metrics", f"127.0.0.1:{mport}", "--metrics-token", TOKEN])
    drive_traffic(server)
    api = server.api.split("//")[1]
    prom = prometheus([
        {"job_name": "ondol", "static_configs": [{"targets": [api]}]},
        {"job_name": "ondol-own", "static_configs": [{"targets": [f"127.0.0.1:{mport}"]}],
         "authorization": {"type": "Bearer", "credentials": TOKEN}},
    ])
    sel = 'job="ondol",function="m",version="$LATEST"'
    want = {
        f'ondol_invocations_total{{{sel},outcome="success"}}': 5,
        f'ondol_invocations_total{{{sel},outcome="error"}}': 1,
        f'ondol_invocations_total{{{sel},outcome="throttle"}}': 1,
        f'ondol_cold_starts_total{{{sel}}}': 1,
        f'ondol_throttles_total{{{sel},reason="max_concurrency"}}': 1,
        f'ondol_invocation_duration_seconds_count{{{sel}}}': 6,
        f'ondol_init_duration_seconds_count{{{sel}}}': 1,
        # The one cold start, broken into its phases (node-wide).
        'ondol_cold_start_phase_seconds_count{job="ondol",phase="init"}': 1,
        'ondol_cold_start_phase_seconds_count{job="ondol",phase="queue_wait"}': 1,
        'ondol_http_requests_total{job="ondol",route="url:m",status="200"}': 1,
        # The same numbers through the token-protected listener.
        f'ondol_invocations_total{{job="ondol-own",function="m",outcome="success"}}': 5,
    }
    got = {}

    def all_there():
        got.update({q: scalar(prom, q) for q in want})
        return got == want
    wait_until(all_there, timeout=30, interval=0.5, what=f"prometheus to have {want}")
    up = query(prom, "up")
    assert sorted(up.values()) == [1.0, 1.0], up
    # A histogram Prometheus can take a quantile of: the sleep(1) call is the slowest.
    p100 = scalar(prom, f'histogram_quantile(1, ondol_invocation_duration_seconds_bucket{{{sel}}})')
    assert 1.0 <= p100 <= 2.5, p100
    # The phases of an init add up to REPORT's Init Duration (sums, not just counts).
    parts = scalar(prom, 'sum(ondol_cold_start_phase_seconds_sum{job="ondol",'
                         'phase=~"process_start|runtime_ready|init"})')
    init = scalar(prom, f'ondol_init_duration_seconds_sum{{{sel}}}')
    assert parts > 0 and abs(parts - init) < 0.002, (parts, init)
    budget = scalar(prom, 'ondol_memory_budget_bytes{job="ondol"}')
    assert budget and budget > 0


def test_the_metrics_listener_wants_its_token(make_server, tmp_path):
    mport = free_port()
    server = make_server(args=["--metrics", f"127.0.0.1:{mport}", "--metrics-token", TOKEN])
    url = f"http://127.0.0.1:{mport}/metrics"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    ok = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200 and "ondol_concurrent_executions" in ok.text
    assert ok.headers["content-type"].startswith("application/openmetrics-text")
    # The management API serves them unsigned; the listener has nothing else.
    assert "ondol_memory_budget_bytes" in requests.get(f"{server.api}/metrics", timeout=5).text
    assert requests.get(f"http://127.0.0.1:{mport}/ondol/v1/metrics", timeout=5).status_code == 404
    # Off loopback without a token, the server refuses to start and names the flag.
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "d2"), "--api", "127.0.0.1:0",
                        "--http", "127.0.0.1:0", "--metrics", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--metrics-token" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")
def test_function_code_may_not_read_the_metrics(make_server):
    from test_sandbox import CONNECT, attempt, probe, run
    mport = free_port()
    server = make_server(args=["--metrics", f"127.0.0.1:{mport}", "--metrics-token", TOKEN])
    probe(server)
    for target in (server.api, f"http://127.0.0.1:{mport}"):
        out = run(server, CONNECT + attempt(f"ask('{target}', '/metrics')"))
        assert "HTTP/1.1 403" in out["ok"] and "ondol_" not in out["ok"], out


def scrape(server):
    """`/metrics` as {series: value}, series as written (`name{a="b",...}`)."""
    text = requests.get(f"{server.api}/metrics", timeout=10).text
    assert text.rstrip().endswith("# EOF")
    return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1])
            for l in text.splitlines() if l and not l.startswith("#")}


def test_deploys_rollbacks_and_the_async_queue_are_counted(make_server, tmp_path):
    from test_status import MANIFEST
    server = make_server(args=["--async-retry-base", "100ms"])
    app = tmp_path / "app"
    shutil.copytree(FUNCTIONS / "py_hello", app / "hello")
    (app / "ondol.toml").write_text(MANIFEST)
    server.cli("deploy", str(app), timeout=120)
    (app / "hello" / "extra.txt").write_text("v2")
    server.cli("deploy", str(app), timeout=120)
    server.cli("rollback", "--app", "shop")
    m = scrape(server)
    key = 'app="shop",stage="$default"'
    assert m[f'ondol_deploys_total{{{key},outcome="deployed"}}'] == 2
    assert m[f'ondol_deploys_total{{{key},outcome="rolled_back"}}'] == 1
    assert m[f'ondol_rollbacks_total{{{key}}}'] == 1

    # One event that fails twice (a retry, then a dead letter)...
    c = server.client()
    server.create("flaky", "python3.11", code="py_hello")
    c.put_function_event_invoke_config(FunctionName="flaky", MaximumRetryAttempts=1)
    c.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"raise": "no"}))
    wait_until(lambda: scrape(server)["ondol_async_dead_letters_total"] == 1, timeout=30,
               what="a dead letter")
    assert scrape(server)["ondol_async_retries_total"] == 1
    # ...and three that wait: the function is disabled by ondol's max_concurrency 0
    # (reserved concurrency 0 would fail them at once, as Lambda does).
    server.create("stuck", "python3.11", code="py_hello", ondol={"MaxConcurrency": 0})
    for _ in range(3):
        c.invoke(FunctionName="stuck", InvocationType="Event", Payload=b"{}")
    time.sleep(1.2)
    m = scrape(server)
    assert m['ondol_async_queue_depth{function="stuck"}'] == 3
    assert 1.0 <= m['ondol_async_oldest_event_age_seconds{function="stuck"}'] < 30
