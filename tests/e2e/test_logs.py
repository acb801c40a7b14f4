"""Logs: captured per request, START/END/REPORT exactly, queryable, never mixed."""
import base64
import re
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import wait_until

REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{2} ms\t)?$")


def test_tail_has_start_end_report_in_lambda_format(server):
    server.create("f", "python3.11", code="py_hello")
    r = server.invoke("f", {"print": 2, "tag": "hello"}, tail=True)
    rid = r.headers["x-amzn-RequestId"]
    lines = base64.b64decode(r.headers["X-Amz-Log-Result"]).decode().splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[1:3] == ["hello 0", "hello 1"]
    assert lines[3] == f"END RequestId: {rid}"
    m = REPORT.match(lines[4])
    assert m and m.group("id") == rid and m.group(2), lines[4]
    billed = int(lines[4].split("Billed Duration: ")[1].split(" ")[0])
    dur = float(lines[4].split("Duration: ")[1].split(" ")[0])
    assert billed >= dur and billed - dur < 1


def test_concurrent_invocations_logs_are_never_mixed(server):
    server.create("mix", "python3.11", code="py_hello", ondol={"MaxConcurrency": 4})

    def call(i):
        r = server.invoke("mix", {"print": 30, "tag": f"req{i}", "sleep_between": 0.005})
        return f"req{i}", r.headers["x-amzn-RequestId"]

    with ThreadPoolExecutor(4) as ex:
        calls = list(ex.map(call, range(8)))
    for tag, rid in calls:
        entries = wait_until(
            lambda: (lambda es: es if any(e["line"].startswith("REPORT") for e in es) else None)(server.logs(request_id=rid)),
            what=f"logs of {rid}")
        body = [e["line"] for e in entries if not e["line"].startswith(("START", "END", "REPORT", "ONDOL_COLD_START"))]
        assert body == [f"{tag} {i}" for i in range(30)], body


def test_logs_cli_filters_by_request_and_time(server):
    server.create("cli", "python3.11", code="py_hello")
    r1 = server.invoke("cli", {"print": 1, "tag": "first"})
    r2 = server.invoke("cli", {"print": 1, "tag": "second"})
    rid = r2.headers["x-amzn-RequestId"]
    wait_until(lambda: len(server.logs(function="cli")) >= 8)
    out = server.cli("logs", "cli", "--request-id", rid).stdout
    assert "second 0" in out and "first 0" not in out
    assert f"REPORT RequestId: {rid}" in out
    all_out = server.cli("logs", "cli", "--since", "10m").stdout
    assert "first 0" in all_out and "second 0" in all_out
    time.sleep(0.2)
    assert server.cli("logs", "cli", "--since", "100ms").stdout == "", "older lines are filtered out"
    none = server.cli("logs", "nosuchfn", check=False)
    assert none.returncode != 0 and none.stdout == "" and 'no function "nosuchfn"' in none.stderr
    assert r1.status_code == 200


def test_logs_follow_streams_new_lines(server):
    import subprocess
    from conftest import BIN
    server.create("fol", "python3.11", code="py_hello")
    p = subprocess.Popen([BIN, "logs", "fol", "--follow", "--endpoint", server.api],
                         stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        server.invoke("fol", {"print": 1, "tag": "followed"})
        deadline = time.time() + 10
        seen = []
        while time.time() < deadline:
            line = p.stdout.readline()
            seen.append(line)
            if "followed 0" in line:
                break
        assert any("followed 0" in l for l in seen), seen
    finally:
        p.terminate()
        p.wait()


def test_invoke_cli_prints_result_and_log(server):
    server.create("inv", "python3.11", code="py_hello")
    r = server.cli("invoke", "inv", "--payload", '{"print": 1, "tag": "via-cli"}', "--log")
    assert '"event": {"print": 1, "tag": "via-cli"}' in r.stdout
    assert "via-cli 0" in r.stderr and "REPORT RequestId" in r.stderr
    bad = server.cli("invoke", "inv", "--payload", '{"raise": "nope"}', check=False)
    assert bad.returncode == 1 and "ValueError" in bad.stdout


def test_the_last_lines_before_a_stop_are_kept(make_server, tmp_path):
    # Lines wait up to 20 ms in the writer's batch; SIGTERM must not drop them.
    s = make_server(tmp_path / "data")
    s.create("last", "python3.11", code="py_hello")
    ids = [s.invoke("last", {}).headers["x-amzn-RequestId"] for _ in range(3)]
    assert s.stop() == 0
    s2 = make_server(tmp_path / "data")
    reports = [e["request_id"] for e in s2.logs(function="last") if e["line"].startswith("REPORT")]
    assert reports == ids, reports
