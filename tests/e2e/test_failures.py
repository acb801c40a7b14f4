"""Limits and failures: each a clear error and a log line, never a hung pool."""
import json

import pytest
import requests

from conftest import wait_until


def healthy(server, name):
    r = server.invoke(name, {"ok": 1})
    assert r.status_code == 200 and "X-Amz-Function-Error" not in r.headers, r.text
    return r.json()


def test_timeout_kills_and_replaces_the_instance(server):
    server.create("slow", "python3.11", code="py_hello", timeout=1)
    before = healthy(server, "slow")["instance"]
    r = server.invoke("slow", {"sleep": 5}, tail=True)
    assert r.status_code == 200 and r.headers["X-Amz-Function-Error"] == "Unhandled"
    body = r.json()
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    rid = r.headers["x-amzn-RequestId"]
    lines = [e["line"] for e in wait_until(lambda: server.logs(request_id=rid) if any("REPORT" in e["line"] for e in server.logs(request_id=rid)) else None)]
    assert any(l.endswith(f"{rid} Task timed out after 1.00 seconds") for l in lines), lines
    after = healthy(server, "slow")["instance"]
    assert after != before, "the timed-out instance was replaced"


def test_crash_mid_invocation_is_an_exit_error(server):
    server.create("crash", "python3.11", code="py_hello")
    r = server.invoke("crash", {"crash": 42})
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    body = r.json()
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 42" in body["errorMessage"]
    assert body["errorMessage"].startswith("RequestId: ")
    healthy(server, "crash")


def test_out_of_memory_is_reported_and_recovers(server):
    server.create("hog", "python3.11", code="py_hello", memory=128, timeout=10)
    r = server.invoke("hog", {"alloc_mb": 400})
    body = r.json()
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory", body
    assert "memory_mb=128" in body["errorMessage"]
    assert server.metrics()["engine"]["out_of_memory"] >= 1
    healthy(server, "hog")


def test_max_memory_used_is_the_real_peak(server):
    server.create("mem", "python3.11", code="py_hello", memory=512, timeout=10)
    healthy(server, "mem")
    r = server.invoke("mem", {"alloc_mb": 100}, tail=True)
    assert r.status_code == 200
    import base64
    report = [l for l in base64.b64decode(r.headers["X-Amz-Log-Result"]).decode().splitlines() if l.startswith("REPORT")][0]
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 100 <= used <= 200, report


def test_init_failure_returns_import_error_then_a_fix_works(server):
    server.create("broken", "python3.11", code="py_importerror")
    r = server.invoke("broken")
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    body = r.json()
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "nosuchmodule_for_ondol_tests" in body["errorMessage"]
    # A fixed version of the code serves at once.
    import base64
    from conftest import zip_dir, FUNCTIONS
    z = base64.b64encode(zip_dir(FUNCTIONS / "py_hello")).decode()
    resp = requests.put(f"{server.api}/2015-03-31/functions/broken/code", json={"ZipFile": z})
    assert resp.status_code == 200, resp.text
    healthy(server, "broken")


def test_crash_loop_backs_off_and_says_so(server):
    server.create("loop", "python3.11", code="py_importerror")
    msgs = [server.invoke("loop").json()["errorMessage"] for _ in range(3)]
    assert "crash loop" not in msgs[0]
    assert any("crash loop" in m and "consecutive failures" in m for m in msgs[1:]), msgs


def test_request_payload_limit_names_the_limit(server):
    server.create("small", "python3.11", code="py_hello", ondol={"MaxRequestBytes": 1000})
    r = requests.post(f"{server.api}/2015-03-31/functions/small/invocations", data=b"[" + b"1," * 1000 + b"1]")
    assert r.status_code == 413
    assert r.headers["x-amzn-ErrorType"] == "RequestTooLargeException"
    assert "max_request_bytes=1000" in r.json()["message"]
    healthy(server, "small")


def test_default_request_limit_is_6mb(server):
    server.create("big", "python3.11", code="py_hello")
    payload = json.dumps({"pad": "x" * (6 * 1024 * 1024)})
    r = requests.post(f"{server.api}/2015-03-31/functions/big/invocations", data=payload)
    assert r.status_code == 413 and "6291456" in r.json()["message"]


def test_response_payload_limit(server):
    server.create("resp", "python3.11", code="py_hello", ondol={"MaxResponseBytes": 10000})
    r = server.invoke("resp", {"big": 20000})
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    body = r.json()
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert "max_response_bytes" in body["errorMessage"]
    assert len(server.invoke("resp", {"big": 5000}).json()) == 5000


@pytest.mark.host_files  # the hook's marker file is on the host
def test_work_after_the_response_completes(server, tmp_path):
    server.create("after", "python3.11", code="py_hello")
    marker = tmp_path / "after-hook"
    r = server.invoke("after", {"after": str(marker)})
    assert r.status_code == 200
    assert not marker.exists(), "the response came before the hook ran"
    wait_until(marker.exists, timeout=5, what="the after-response hook")
    assert marker.read_text() == "done"


def test_an_instance_that_dies_while_idle_is_not_handed_out(server):
    server.create("idle-death", "python3.11", code="py_hello")
    first = healthy(server, "idle-death")
    server.invoke("idle-death", {"exit_after": 0.05})
    wait_until(lambda: server.pool("idle-death")["running"] <= 1, timeout=5)
    import time
    time.sleep(0.3)
    after = healthy(server, "idle-death")
    assert after["instance"] != first["instance"]
