"""The server: graceful drain, restart and kill -9 keep functions, safe code upload."""
import base64
import io
import os
import signal
import threading
import time
import zipfile

import requests

from conftest import FUNCTIONS, descendants, live, wait_until, zip_dir


def processes_mentioning(text):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if text.encode() in f.read() and live(int(d)):
                        out.append(int(d))
            except OSError:
                pass
    return out


def test_graceful_shutdown_finishes_in_flight_work_and_leaves_no_process(server):
    server.create("py", "python3.11", code="py_hello", ondol={"MinWarm": 2}, timeout=10)
    server.create("node", "nodejs20.x", handler="index.handler", code="node_hello")
    wait_until(lambda: server.pool("py")["idle"] == 2, timeout=10)
    server.invoke("node")
    children = descendants(server.proc.pid)
    assert len(children) >= 3, children
    result = {}

    def slow():
        result["r"] = server.invoke("py", {"sleep": 1.5})

    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: server.pool("py")["idle"] == 1, timeout=5)
    assert server.stop(signal.SIGTERM) == 0
    t.join(10)
    assert result["r"].status_code == 200, "the in-flight invocation finished"
    assert result["r"].json()["event"] == {"sleep": 1.5}
    time.sleep(0.2)
    assert [p for p in children if live(p)] == []
    assert processes_mentioning(str(server.data_dir)) == []
    assert "draining" in server.output()


def test_sigint_also_drains(server):
    server.create("py", "python3.11", code="py_hello")
    server.invoke("py")
    children = descendants(server.proc.pid)
    assert server.stop(signal.SIGINT) == 0
    time.sleep(0.2)
    assert [p for p in children if live(p)] == []


def test_restart_keeps_functions(make_server, tmp_path):
    data = tmp_path / "keep"
    s1 = make_server(data)
    s1.create("persist", "python3.11", code="py_hello", env={"GREETING": "again"})
    assert s1.stop() == 0
    s2 = make_server(data)
    assert s2.invoke("persist").json()["env"]["GREETING"] == "again"
    names = [f["FunctionName"] for f in s2.client().list_functions()["Functions"]]
    assert names == ["persist"]


def test_kill_9_keeps_functions(make_server, tmp_path):
    data = tmp_path / "crashy"
    s1 = make_server(data)
    s1.create("durable", "python3.11", code="py_hello")
    s1.proc.kill()
    s1.proc.wait()
    s2 = make_server(data)
    r = s2.invoke("durable", {"x": 1})
    assert r.json()["event"] == {"x": 1}


def zip_with(name, data=b"x", symlink_to=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo(name)
        if symlink_to is not None:
            info.external_attr = 0o120777 << 16
            data = symlink_to.encode()
        z.writestr(info, data)
    return base64.b64encode(buf.getvalue()).decode()


def test_zip_slip_archives_are_refused_and_nothing_is_created(server):
    for zip_b64, entry in [
        (zip_with("../../evil.py"), "../../evil.py"),
        (zip_with("/tmp/evil.py"), "/tmp/evil.py"),
        (zip_with("link", symlink_to="../../../etc/passwd"), "link"),
    ]:
        r = requests.post(f"{server.api}/2015-03-31/functions", json={
            "FunctionName": "slip", "Runtime": "python3.11", "Handler": "app.handler",
            "Role": "arn:aws:iam::000000000000:role/r", "Code": {"ZipFile": zip_b64}})
        assert r.status_code == 400, r.text
        assert r.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
        assert f"'{entry}'" in r.json()["message"]
    assert not (server.data_dir.parent / "evil.py").exists()
    assert server.client().list_functions()["Functions"] == []
    assert os.listdir(server.data_dir / "code") == []


def test_not_a_zip_is_refused(server):
    r = requests.post(f"{server.api}/2015-03-31/functions", json={
        "FunctionName": "nozip", "Runtime": "python3.11", "Handler": "app.handler", "Role": "arn:aws:iam::000000000000:role/r",
        "Code": {"ZipFile": base64.b64encode(b"definitely not a zip").decode()}})
    assert r.status_code == 400 and "Could not unzip" in r.json()["message"]


def test_http_front_door_answers_404_until_routes_exist(server):
    r = requests.get(f"{server.http}/anything")
    assert r.status_code == 404 and r.json() == {"message": "Not Found"}


def test_non_loopback_api_is_refused_without_credentials(tmp_path):
    import subprocess
    from conftest import BIN
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "d"), "--api", "0.0.0.0:0",
                        "--http", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "without credentials" in r.stderr


def test_env_vars_configure_the_server(make_server, tmp_path):
    s = make_server(args=[], env={"ONDOL_MEMORY_BUDGET_MB": "300"})
    assert s.metrics()["memory_budget_mb"]["limit"] == 300


def test_code_is_read_only_and_unpacked_once(server):
    server.create("a", "python3.11", code="py_hello")
    server.create("b", "python3.11", code="py_hello")
    dirs = os.listdir(server.data_dir / "code")
    assert len(dirs) == 1, "same content, one unpacked copy"
    mode = os.stat(server.data_dir / "code" / dirs[0] / "app.py").st_mode & 0o777
    assert mode == 0o444
    assert zip_dir(FUNCTIONS / "py_hello")


def test_relative_data_dir_is_resolved_in_the_working_directory(tmp_path):
    """`ondol serve --data-dir .ondol` keeps its state in ./.ondol of where it starts
    (without the flag, `serve` uses an absolute default: test_config.py)."""
    import json
    import re
    import subprocess
    from conftest import BIN
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([BIN, "serve", "--data-dir", ".ondol", "--api", "127.0.0.1:0", "--http", "127.0.0.1:0"],
                            cwd=tmp_path, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        api = wait_until(lambda: re.search(r"management API listening on (http://\S+)", log.read_text()), timeout=20).group(1)
        body = {"FunctionName": "rel", "Runtime": "python3.11", "Handler": "app.handler", "Role": "arn:aws:iam::000000000000:role/r",
                "Code": {"ZipFile": base64.b64encode(zip_dir(FUNCTIONS / "py_hello")).decode()}}
        assert requests.post(f"{api}/2015-03-31/functions", json=body).status_code == 201
        r = requests.post(f"{api}/2015-03-31/functions/rel/invocations", data=json.dumps({"k": 1}))
        assert "X-Amz-Function-Error" not in r.headers, r.text
        assert r.json()["event"] == {"k": 1}
        assert (tmp_path / ".ondol" / "ondol.db").exists()
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
