"""Upgrades and restarts without dropping a request: `ondol serve --takeover` and
SIGHUP hand the listening sockets to a new process, which warms before it accepts;
the old one finishes its in-flight work and exits."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import requests

from conftest import BIN, FUNCTIONS, live, wait_until

WEB = '''
import os
def handler(event, context):
    return {"statusCode": 200, "body": str(os.getpid())}
'''

MANIFEST = '''
app = "up"

[functions.web]
runtime = "python3.11"
handler = "app.handler"
code = "web"
min_warm = 4

[functions.sink]
runtime = "python3.11"
handler = "app.handler"
code = "sink"
environment = {{ SINK_FILE = "{sink}" }}

[[routes]]
route = "GET /hi"
function = "web"
'''


# The sink function appends to a file on the host, which the sandbox forbids.
HOST = ["--sandbox", "off"]


def deploy(server, tmp_path):
    d = tmp_path / "app"
    (d / "web").mkdir(parents=True)
    (d / "sink").mkdir()
    (d / "web" / "app.py").write_text(WEB)
    shutil.copy(FUNCTIONS / "py_sink" / "app.py", d / "sink" / "app.py")
    sink = tmp_path / "sink.jsonl"
    (d / "ondol.toml").write_text(MANIFEST.format(sink=sink))
    server.cli("deploy", str(d), timeout=120)
    assert requests.get(f"{server.http}/hi", timeout=10).status_code == 200
    return sink


class Load:
    """Front door GETs from several threads (as many as the web function's
    min_warm: more concurrency could rightly need a new instance), each on a new
    connection, and async invokes through the API, until stopped; every outcome kept."""

    def __init__(self, server, threads=4):
        self.http, self.api = server.http, server.api
        self.stop = threading.Event()
        self.results, self.failures, self.sent = [], [], []
        self.threads = [threading.Thread(target=self.get) for _ in range(threads)]
        self.threads.append(threading.Thread(target=self.events))
        for t in self.threads:
            t.start()

    def get(self):
        while not self.stop.is_set():
            try:
                r = requests.get(f"{self.http}/hi", timeout=30)
                self.results.append((time.time(), r.status_code))
                if r.status_code != 200:
                    self.failures.append(f"GET {r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                self.failures.append(f"GET {e!r}")

    def events(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                r = requests.post(f"{self.api}/2015-03-31/functions/up-sink/invocations",
                                  data=json.dumps({"n": n}),
                                  headers={"X-Amz-Invocation-Type": "Event"}, timeout=30)
                if r.status_code == 202:
                    self.sent.append(n)
                else:
                    self.failures.append(f"Event {r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                self.failures.append(f"Event {e!r}")
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def lock_pid(server):
    return int((server.data_dir / "lock").read_text().strip() or 0)


def init_reports_since(server, since):
    """REPORT lines of `web` with an Init Duration, logged after `since`."""
    assert server.logs(function="up-web", text="REPORT"), "the web function's REPORT lines are stored"
    return [e["line"] for e in server.logs(function="up-web", text="Init Duration",
                                           since_ms=int(since * 1000), limit=1000)]


def check_after(server, load, sink, old_pid, handed_over):
    assert not load.failures, load.failures[:10]
    after = [t for t, _ in load.results if t > handed_over + 0.5]
    assert len(after) > 20, f"requests were served after the handover ({len(after)})"
    assert not live(old_pid), "the old process is gone"
    new_pid = lock_pid(server)
    assert new_pid != old_pid and live(new_pid)
    # The new process serves the API (the lock file names it).
    names = {f["FunctionName"] for f in server.client().list_functions()["Functions"]}
    assert names == {"up-web", "up-sink"}
    assert requests.get(f"{server.api}/ondol/v1/ready", timeout=10).status_code == 200

    def delivered():
        got = {json.loads(l)["n"] for l in sink.read_text().splitlines()} if sink.exists() else set()
        return got >= set(load.sent) and got
    wait_until(delivered, timeout=60, what="every async event delivered")
    assert init_reports_since(server, handed_over) == [], "no cold start after the handover"
    times = sorted(t for t, _ in load.results)
    gap = max(b - a for a, b in zip(times, times[1:]))
    print(f"takeover: {len(times)} requests, {len(load.sent)} events, longest gap {gap * 1000:.0f} ms")
    return new_pid


def test_takeover_by_a_new_binary_under_load_drops_nothing(make_server, tmp_path):
    server = make_server(tmp_path / "data", args=HOST)
    sink = deploy(server, tmp_path)
    old_pid = server.proc.pid
    new_bin = tmp_path / "ondol-new"
    shutil.copy2(BIN, new_bin)
    load = Load(server)
    try:
        time.sleep(2)
        log = open(tmp_path / "new.log", "w+")
        api, http = server.api.split("//")[1], server.http.split("//")[1]
        new = subprocess.Popen([str(new_bin), "serve", "--data-dir", str(server.data_dir),
                                "--api", api, "--http", http, *HOST, "--takeover"],
                               stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "took over the listeners" in (tmp_path / "new.log").read_text(),
                       timeout=60, what="the handover")
            handed_over = time.time()
            assert server.proc.wait(60) == 0, server.output()[-3000:]
            time.sleep(2)
        finally:
            load.finish()
        assert new.poll() is None, (tmp_path / "new.log").read_text()[-3000:]
        assert "handing over to the new process" in server.output()
        new_pid = check_after(server, load, sink, old_pid, handed_over)
        assert new_pid == new.pid
        assert os.readlink(f"/proc/{new_pid}/exe") == str(new_bin)
    finally:
        load.finish()
        if new.poll() is None:
            new.send_signal(signal.SIGTERM)
            new.wait(40)


def test_sighup_takes_over_with_the_same_binary(make_server, tmp_path):
    server = make_server(tmp_path / "data", args=HOST)
    sink = deploy(server, tmp_path)
    old_pid = server.proc.pid
    load = Load(server)
    new_pid = None
    try:
        time.sleep(2)
        server.proc.send_signal(signal.SIGHUP)
        try:
            wait_until(lambda: "took over the listeners" in server.output(), timeout=60,
                       what="the handover")
            handed_over = time.time()
            assert server.proc.wait(60) == 0, server.output()[-3000:]
            time.sleep(2)
        finally:
            load.finish()
        new_pid = check_after(server, load, sink, old_pid, handed_over)
        assert "SIGHUP: started a new process to take over" in server.output()
    finally:
        load.finish()
        pid = new_pid or lock_pid(server)
        if pid and pid != old_pid and live(pid):
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not live(pid), timeout=40, what="the new process to stop")


def test_a_failed_takeover_leaves_the_old_server_serving(make_server, tmp_path):
    server = make_server(tmp_path / "data", args=HOST)
    deploy(server, tmp_path)
    base = [BIN, "serve", "--data-dir", str(server.data_dir), "--takeover", *HOST,
            "--api", server.api.split("//")[1], "--http", server.http.split("//")[1]]
    bad_flag = subprocess.run([*base, "--no-such-flag"], capture_output=True, text=True, timeout=60)
    assert bad_flag.returncode == 2, bad_flag.stderr
    # Connects, takes the sockets, then fails on its configuration.
    bad_config = subprocess.run([*base, "--cost-region", "mars-1"], capture_output=True,
                                text=True, timeout=60)
    assert bad_config.returncode != 0
    assert "cost-region" in bad_config.stderr, bad_config.stderr
    assert "the new process gave up before the handover: this server keeps serving" in \
        wait_until(lambda: "gave up" in server.output() and server.output(), what="the old server's note")
    assert server.proc.poll() is None and lock_pid(server) == server.proc.pid
    for _ in range(20):
        assert requests.get(f"{server.http}/hi", timeout=10).status_code == 200
    assert requests.get(f"{server.api}/ondol/v1/ready", timeout=10).status_code == 200
    # No server on another data dir: said plainly.
    other = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "empty"), "--takeover",
                            "--api", "127.0.0.1:0", "--http", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode != 0 and "no running server answers" in other.stderr, other.stderr
    # The failures left nothing stuck: a good takeover still goes through.
    new = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.proc.wait(60) == 0
        assert wait_until(lambda: lock_pid(server) == new.pid, what="the new server's lock")
        assert requests.get(f"{server.http}/hi", timeout=10).status_code == 200
    finally:
        new.send_signal(signal.SIGTERM)
        new.wait(40)
