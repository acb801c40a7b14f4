"""Health and readiness: live while serving, ready only once restored and not draining,
unsigned even with credentials, and systemd's READY=1 / STOPPING=1."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import requests

from conftest import BIN, Server, wait_until

FN = "def handler(event, context):\n    import time; time.sleep(event.get('sleep', 0)); return 'ok'\n"


def code(tmp_path):
    d = tmp_path / "code"
    d.mkdir(exist_ok=True)
    (d / "app.py").write_text(FN)
    from conftest import zip_dir
    return zip_dir(d)


def test_ready_is_503_until_functions_are_restored_then_200(make_server, tmp_path):
    s = make_server()
    z = code(tmp_path)
    for i in range(300):
        s.create(f"f{i}", "python3.11", zip_bytes=z)
    s.stop()
    log = tmp_path / "restart.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([BIN, "serve", "--data-dir", str(s.data_dir), "--api", "127.0.0.1:0",
                                 "--http", "127.0.0.1:0", "--sandbox", "off"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        api = wait_until(lambda: (m := re.search(r"management API listening on (http://\S+)",
                                                   log.read_text())) and m.group(1), timeout=30)
        seen = []
        while True:
            r = requests.get(f"{api}/ondol/v1/ready", timeout=10)
            seen.append((r.status_code, r.json()))
            assert requests.get(f"{api}/ondol/v1/health", timeout=10).status_code == 200
            if r.status_code == 200:
                break
            time.sleep(0.005)
        first = seen[0]
        assert first[0] == 503, seen[:3]
        assert "functions" in first[1]["waiting_for"], first
        assert seen[-1] == (200, {"status": "ready"})
        # Once ready, every restored function is there.
        names = requests.get(f"{api}/2015-03-31/functions?MaxItems=1000", timeout=30).json()
        assert len(names["Functions"]) == 300
    finally:
        proc.terminate()
        proc.wait(30)


def test_ready_is_503_while_draining_and_health_still_answers(server, tmp_path):
    server.create("slow", "python3.11", zip_bytes=code(tmp_path), timeout=10)
    assert requests.get(f"{server.api}/ondol/v1/ready", timeout=5).status_code == 200
    t = threading.Thread(target=server.invoke, args=("slow", {"sleep": 4}))
    t.start()
    wait_until(lambda: server.pool("slow")["running"] >= 1, timeout=20, what="the invocation")
    server.proc.send_signal(signal.SIGTERM)
    # (A Response is falsy when not ok: keep its body.)
    body = wait_until(lambda: (r := requests.get(f"{server.api}/ondol/v1/ready", timeout=5))
                      .status_code == 503 and r.json(), timeout=5, what="ready to turn 503")
    assert body == {"status": "not ready", "waiting_for": ["draining"]}
    assert requests.get(f"{server.api}/ondol/v1/health", timeout=5).status_code == 200
    t.join()
    assert server.proc.wait(30) == 0


def test_health_and_ready_need_no_signature_when_everything_else_does(make_server):
    s = make_server(env={"ONDOL_ACCESS_KEY_ID": "AKIDHEALTH", "ONDOL_SECRET_ACCESS_KEY": "s3cret"})
    for path in ("/ondol/v1/health", "/ondol/v1/ready"):
        r = requests.get(f"{s.api}{path}", timeout=5)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"status"}
    assert requests.get(f"{s.api}/2015-03-31/functions", timeout=5).status_code == 403
    assert requests.get(f"{s.api}/ondol/v1/metrics", timeout=5).status_code == 403
    assert requests.post(f"{s.api}/ondol/v1/backup", timeout=5).status_code == 403


def test_notify_socket_gets_ready_then_stopping(make_server, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    try:
        s = make_server(env={"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"READY=1"
        # Ready was said only once the API answers ready.
        assert requests.get(f"{s.api}/ondol/v1/ready", timeout=5).status_code == 200
        assert s.stop() == 0
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        sock.close()
