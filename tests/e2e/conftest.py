"""End-to-end fixtures: the real `ondol` binary, real processes, real HTTP.

Each test gets its own server on ephemeral ports and a fresh data dir. Set ONDOL_BIN
to test another build (default: target/debug/ondol, built by .ci/run).
"""
import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import boto3
import botocore.config
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = Path(__file__).resolve().parent / "functions"
BIN = os.environ.get("ONDOL_BIN", str(ROOT / "target" / "debug" / "ondol"))
RUST_BOOTSTRAP = ROOT / "target" / "release" / "bootstrap"
# The aws CLI as installed by pip (through the module if no shim is on PATH yet).
AWS = ["aws"] if shutil.which("aws") else [sys.executable, "-m", "awscli"]


def zip_dir(path, extra=None):
    """Zips a directory (keeping exec bits), plus extra {name: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if path is not None:
            for f in sorted(Path(path).rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts:
                    info = zipfile.ZipInfo(str(f.relative_to(path)))
                    info.external_attr = (f.stat().st_mode & 0o777 | 0o100000) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, f.read_bytes())
        for name, data in (extra or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            z.writestr(info, data)
    return buf.getvalue()


class Server:
    """A running `ondol serve`."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = Path(data_dir)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.start()

    def start(self):
        self.log_path = self.data_dir.parent / f"server-{time.time_ns()}.log"
        self.log = open(self.log_path, "w+")
        defaults = [a for flag in ("--api", "--http") if flag not in self.extra_args
                    for a in (flag, "127.0.0.1:0")]
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data-dir", str(self.data_dir), *defaults, *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.log_path.read_text()
            api = re.search(r"management API listening on (http://\S+)", text)
            http = re.search(r"HTTP front door listening on (http://\S+)", text)
            if api and http and "ready" in text:
                self.api, self.http = api.group(1), http.group(1)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"ondol exited early:\n{text}")
            time.sleep(0.02)
        raise RuntimeError(f"ondol did not start:\n{self.log_path.read_text()}")

    def output(self):
        return self.log_path.read_text()

    def stop(self, sig=signal.SIGTERM, timeout=40):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def client(self, retries=1):
        return boto3.client(
            "lambda", endpoint_url=self.api, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=botocore.config.Config(
                retries={"total_max_attempts": retries}, read_timeout=120,
                connect_timeout=10, max_pool_connections=64),
        )

    # ---- raw helpers (for ondol's own fields, which boto3 doesn't model) ----
    def create(self, name, runtime, handler="app.handler", code=None, zip_bytes=None,
               env=None, memory=128, timeout=3, ondol=None, image_config=None):
        if zip_bytes is None:
            zip_bytes = zip_dir(FUNCTIONS / code if code else None)
        body = {
            "FunctionName": name, "Runtime": runtime, "Handler": handler,
            "Role": "arn:aws:iam::000000000000:role/test",
            "Code": {"ZipFile": base64.b64encode(zip_bytes).decode()},
            "MemorySize": memory, "Timeout": timeout,
            "Environment": {"Variables": env or {}},
        }
        if ondol:
            body["Ondol"] = ondol
        if image_config:
            body["ImageConfig"] = image_config
        r = requests.post(f"{self.api}/2015-03-31/functions", json=body, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()

    def update_config(self, name, **fields):
        r = requests.put(f"{self.api}/2015-03-31/functions/{name}/configuration",
                         json=fields, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def invoke(self, name, payload=None, tail=False, timeout=120):
        headers = {"X-Amz-Log-Type": "Tail"} if tail else {}
        return requests.post(
            f"{self.api}/2015-03-31/functions/{name}/invocations",
            data=json.dumps(payload if payload is not None else {}),
            headers=headers, timeout=timeout)

    def metrics(self):
        return requests.get(f"{self.api}/ondol/v1/metrics", timeout=10).json()

    def pool(self, name, version="$LATEST"):
        return self.metrics()["pools"].get(name, {}).get(version, {"idle": 0, "running": 0, "waiting": 0})

    def request_log(self, request_id, timeout=10):
        """The log lines of one invocation, once its REPORT line is stored."""
        def done():
            lines = [e["line"] for e in self.logs(request_id=request_id)]
            return lines if any(l.startswith("REPORT") for l in lines) else None
        return wait_until(done, timeout=timeout, what=f"the REPORT of {request_id}")

    def logs(self, **query):
        return requests.get(f"{self.api}/ondol/v1/logs", params=query, timeout=10).json()["entries"]

    def cli(self, *args, check=True, timeout=60):
        r = subprocess.run([BIN, *args, "--endpoint", self.api], capture_output=True,
                           text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, r.stderr
        return r


def run_load(url, results, stop):
    """A client loop until `stop` is set: (time, status) of each response."""
    import time
    import requests
    with requests.Session() as s:
        while not stop.is_set():
            r = s.get(url, timeout=10)
            results.append((time.time(), r.status_code))


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def report_lines(tail_b64):
    text = base64.b64decode(tail_b64).decode()
    return [l for l in text.splitlines() if l.startswith("REPORT ")]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "host_files: the test watches its function through files on the host, "
        "which the sandbox forbids by design, so its servers run with --sandbox off")
    config.addinivalue_line(
        "markers", "host_pids: the test follows its function's processes by the pids they "
        "report, which their own pid namespace makes meaningless on the host, so its servers "
        "run with --sandbox off")


def sandbox_args(request, args=()):
    host = request.node.get_closest_marker("host_files") or request.node.get_closest_marker("host_pids")
    if host and "--sandbox" not in args:
        return ["--sandbox", "off", *args]
    return list(args)


@pytest.fixture
def server(tmp_path, request):
    s = Server(tmp_path / "data", sandbox_args(request))
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_path, request):
    made = []

    def make(data_dir=None, args=(), env=None):
        s = Server(data_dir or tmp_path / f"data{len(made)}", sandbox_args(request, args), env)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def live(pid):
    """Whether pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid):
    """Every live process whose ancestry includes pid (via /proc)."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                ppid = int(stat[stat.rfind(")") + 2:].split()[1])
                parents[int(d)] = ppid
            except (OSError, ValueError, IndexError):
                pass
    out = []
    for p in parents:
        q = p
        while q in parents and q != 0:
            q = parents[q]
            if q == pid:
                out.append(p)
                break
    return out
