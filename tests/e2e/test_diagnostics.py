"""Why is this init slow: where a slow init is (log lines while it runs), where an
init or invocation timed out (its error), and a cold start broken into phases."""
import base64
import re
import socket

import pytest
import requests

from conftest import wait_until, zip_dir


@pytest.fixture
def dead_db():
    """A port whose connects never complete: a listener with its backlog full, so
    the kernel drops further SYNs and a client stays in SYN_SENT."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fill = []
    for _ in range(2):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fill.append(s)
    yield port
    for s in fill + [lst]:
        s.close()


# Every test also runs without the sandbox: the runtime is then the group's leader,
# in the host's pid namespace.
SANDBOXES = pytest.mark.parametrize("sandbox", [(), ("--sandbox", "off")], ids=["default", "no-sandbox"])


def lines_of(server, function, pred, what, timeout=10):
    def found():
        lines = [e["line"] for e in server.logs(function=function)]
        return lines if any(pred(l) for l in lines) else None
    return wait_until(found, timeout=timeout, what=what)


@SANDBOXES
def test_python_init_blocked_in_wait_for_db_says_where(make_server, dead_db, sandbox):
    server = make_server(args=sandbox)
    server.create("waitdb", "python3.11", code="py_waitdb", env={"DB_PORT": str(dead_db)},
                  ondol={"InitTimeoutMs": 4000, "SlowInitMs": 1000})
    r = server.invoke("waitdb")
    body = r.json()
    assert r.headers.get("X-Amz-Function-Error") == "Unhandled", r.text
    assert body["errorType"] == "Sandbox.Timedout", body
    msg = body["errorMessage"]
    assert msg.startswith("Init timed out after 4.00 seconds: still in app.py:6 wait_for_db"), msg
    assert "socket.create_connection((\"127.0.0.1\", int(os.environ[\"DB_PORT\"])))" in msg, msg
    m = re.search(rf"connecting to 127\.0\.0\.1:{dead_db} for (\d+\.\d) s", msg)
    assert m and 2.0 <= float(m.group(1)) <= 4.0, msg

    lines = lines_of(server, "waitdb", lambda l: l.startswith("INIT_REPORT"), "INIT_REPORT")
    assert any("Phase: init\tStatus: timeout" in l for l in lines), lines
    # From inside the bootstrap, while the init still ran: the main thread's stack,
    # user frames in, the bootstrap's own out.
    py = [l for l in lines if l.startswith("ONDOL_SLOW_INIT Init still running after 1.") and "\r" in l]
    assert py and "in app.py:6 wait_for_db" in py[0], lines
    stack = py[0].split("\r")
    assert any('app.py", line 9, in <module>' in s for s in stack), stack
    assert any('app.py", line 6, in wait_for_db' in s for s in stack), stack
    assert any("socket.py" in s for s in stack), stack
    assert not any("bootstrap.py" in s or "frozen importlib" in s for s in stack), stack
    # From the server, through /proc: the process and its connect.
    proc = [l for l in lines if re.match(rf"  pid \d+ python\S*: .*connecting to 127\.0\.0\.1:{dead_db}", l)]
    assert proc, lines
    # The stack comes again at 2x the threshold.
    assert any(l.startswith("ONDOL_SLOW_INIT Init still running after 2.") for l in lines), lines


@SANDBOXES
def test_node_init_stuck_connecting_is_seen_from_proc(make_server, dead_db, sandbox):
    server = make_server(args=sandbox)
    server.create("nodedb", "nodejs20.x", handler="index.handler", code="node_waitdb",
                  env={"DB_PORT": str(dead_db)}, ondol={"InitTimeoutMs": 3000, "SlowInitMs": 1000})
    r = server.invoke("nodedb")
    body = r.json()
    assert body["errorType"] == "Sandbox.Timedout", body
    assert re.search(rf"Init timed out after 3\.00 seconds: still in connecting to 127\.0\.0\.1:{dead_db} for [12]\.\d s",
                     body["errorMessage"]), body
    lines = lines_of(server, "nodedb", lambda l: l.startswith("INIT_REPORT"), "INIT_REPORT")
    head = [i for i, l in enumerate(lines) if l.startswith("ONDOL_SLOW_INIT Init still running after 1.")
            and l.endswith("its processes:")]
    assert head, lines
    assert re.match(rf"  pid \d+ \S+: sleeping in epoll_\w+.*, connecting to 127\.0\.0\.1:{dead_db} for",
                    lines[head[0] + 1]), lines


@SANDBOXES
def test_invocation_timeout_names_the_handler_line(make_server, sandbox):
    server = make_server(args=sandbox)
    server.create("stuck", "python3.11", code="py_stuck", timeout=1)
    assert server.invoke("stuck").json() == "fine"
    r = server.invoke("stuck", {"stuck": True})
    body = r.json()
    assert body["errorType"] == "Sandbox.Timedout", body
    msg = body["errorMessage"]
    assert "Task timed out after 1.00 seconds: still in app.py:6 handler \u2192 time.sleep(30)" in msg, msg
    assert "in clock_nanosleep" in msg or "sleeping" in msg, msg
    rid = r.headers["x-amzn-RequestId"]
    lines = server.request_log(rid)
    where = [l for l in lines if l.startswith("ONDOL_WHERE Invocation")]
    assert where and "app.py:6 handler" in where[0], lines
    # Invocations well within their time say nothing (the first one is cold).
    for _ in range(2):
        rid = server.invoke("stuck").headers["x-amzn-RequestId"]
        assert not any(l.startswith("ONDOL_WHERE") for l in server.request_log(rid))


def test_slow_init_threshold_is_configurable(server):
    created = server.create("quick", "python3.11", code="py_stuck")
    assert created["Ondol"]["SlowInitMs"] == 2000
    server.update_config("quick", Ondol={"SlowInitMs": 50})
    got = requests.get(f"{server.api}/2015-03-31/functions/quick/configuration", timeout=10).json()
    assert got["Ondol"]["SlowInitMs"] == 50
    r = requests.post(f"{server.api}/2015-03-31/functions",
                      json={"FunctionName": "bad", "Runtime": "python3.11", "Handler": "app.handler",
                            "Role": "arn:aws:iam::000000000000:role/x",
                            "Code": {"ZipFile": base64.b64encode(zip_dir(None)).decode()},
                            "Ondol": {"SlowInitMs": 0}}, timeout=10)
    assert r.status_code == 400 and "Ondol.SlowInitMs" in r.text, r.text


def test_cold_start_is_broken_into_phases(server):
    server.create("phases", "python3.11", code="py_hello")
    r = server.invoke("phases", tail=True)
    assert r.status_code == 200, r.text
    assert "_SLOW_INIT_MS" not in r.json()["env"], "the bootstrap keeps its setting to itself"
    tail = base64.b64decode(r.headers["X-Amz-Log-Result"]).decode()
    assert "Init Duration" in tail and "ONDOL_" not in tail, "the tail stays Lambda's"
    rid = r.headers["x-amzn-RequestId"]
    lines = server.request_log(rid)
    report = next(l for l in lines if l.startswith("REPORT"))
    init = float(re.search(r"Init Duration: ([\d.]+) ms", report).group(1))
    cold = [l for l in lines if l.startswith("ONDOL_COLD_START")]
    assert cold, lines
    fields = dict((k, float(v)) for k, v in re.findall(r"([A-Z][\w ]+): ([\d.]+) ms", cold[0]))
    assert set(fields) == {"Queue Wait", "Process Start", "Runtime Ready", "Handler Init", "Duration"}, cold
    assert fields["Process Start"] > 0 and fields["Runtime Ready"] > 0 and fields["Handler Init"] > 0, cold
    parts = fields["Process Start"] + fields["Runtime Ready"] + fields["Handler Init"]
    assert abs(parts - init) < 1.0, (parts, init)
    # A warm invocation has no phases line; the metrics count the cold one.
    rid = server.invoke("phases").headers["x-amzn-RequestId"]
    assert not any(l.startswith("ONDOL_COLD_START") for l in server.request_log(rid))
    phases = server.metrics()["cold_start_phases"]
    assert phases["count"] == 1, phases
    assert phases["last"]["handler_init_ms"] == pytest.approx(fields["Handler Init"], abs=0.01)
    assert sum(n for _, n in phases["histograms"]["runtime_ready_ms"]) == 1


WEB_APP = '''
app = "diag"

[functions.web]
runtime = "web"
code = "web"
command = ["python3", "server.py"]
slow_init = "1s"
init_timeout = "3s"
environment = { DB_PORT = "%d" }

[[routes]]
route = "GET /{proxy+}"
function = "web"
'''

WEB_SERVER = '''
import os, socket
from http.server import BaseHTTPRequestHandler, HTTPServer

socket.create_connection(("127.0.0.1", int(os.environ["DB_PORT"])))  # before listening
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), BaseHTTPRequestHandler).serve_forever()
'''


def test_web_app_stuck_before_listening_is_seen_connecting(server, dead_db, tmp_path):
    """Web mode, deployed from ondol.toml with `slow_init`: no runtime of ours
    inside, so everything comes from /proc."""
    app = tmp_path / "diag-app"
    (app / "web").mkdir(parents=True)
    (app / "ondol.toml").write_text(WEB_APP % dead_db)
    (app / "web" / "server.py").write_text(WEB_SERVER)
    # A deploy starts the new version before it switches: its init log is the answer.
    r = server.cli("deploy", str(app), timeout=120, check=False)
    assert r.returncode != 0, r.stdout
    err = r.stderr
    assert re.search(rf"Init timed out after 3\.00 seconds: nothing answered GET / on port (\d+); "
                     rf"the app was given PORT=\1 and must listen on it; still in connecting to "
                     rf"127\.0\.0\.1:{dead_db} for 2\.\d s", err), err
    assert re.search(rf"ONDOL_SLOW_INIT Init still running after 1\.\d\d s; its processes:\n"
                     rf" +pid \d+ python3\S*: sleeping in connect.*connecting to 127\.0\.0\.1:{dead_db}", err), err
    # The same lines are in the function's log.
    lines = lines_of(server, "diag-web", lambda l: l.startswith("Init timed out"), "the init timeout")
    assert any(l.startswith("ONDOL_SLOW_INIT Init still running after 2.") for l in lines), lines


def test_node_invocation_stuck_connecting_times_out_saying_so(server, dead_db):
    server.create("nodestuck", "nodejs20.x", handler="index.handler", code="node_stuck", timeout=1)
    r = server.invoke("nodestuck", {"port": dead_db})
    body = r.json()
    assert body["errorType"] == "Sandbox.Timedout", body
    assert body["errorMessage"].endswith(
        f"Task timed out after 1.00 seconds: still in connecting to 127.0.0.1:{dead_db}"), body


PY_APP = '''
app = "phased"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"

[[routes]]
route = "GET /hello"
function = "hello"
'''


def test_access_log_breaks_a_cold_request_into_phases(server, tmp_path):
    app = tmp_path / "phased"
    (app / "hello").mkdir(parents=True)
    (app / "ondol.toml").write_text(PY_APP)
    (app / "hello" / "app.py").write_text(
        "import time\n\ndef handler(event, context):\n    time.sleep(0.3)\n    return {'statusCode': 200, 'body': 'hi'}\n")
    server.cli("deploy", str(app), timeout=120)

    def access(rid):
        return next((l for l in server.output().splitlines() if "ondol::access" in l and rid in l), None)

    # The deploy left one instance warm: two requests at once start a second one.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as ex:
        rs = list(ex.map(lambda _: requests.get(f"{server.http}/hello", timeout=30), range(2)))
    assert all(r.status_code == 200 and r.text == "hi" for r in rs), [r.text for r in rs]
    rids = [r.headers["x-amzn-requestid"] for r in rs]
    lines = [wait_until(lambda rid=rid: access(rid), what=f"the access log of {rid}") for rid in rids]
    cold = [l for l in lines if "cold_start=true" in l]
    assert cold, lines
    warm = [l for l in lines if "cold_start=false" in l]
    assert warm and all("init_phases=-" in l for l in warm), lines
    for l in cold:
        m = re.search(r"init_phases=queue=[\d.]+ process=([\d.]+) runtime=([\d.]+) handler=([\d.]+)", l)
        assert m and all(float(x) > 0 for x in m.groups()), l
