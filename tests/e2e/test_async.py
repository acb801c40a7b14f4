"""Async invocations: durable before 202, retried, dead-lettered, never lost."""
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import AWS, BIN, wait_until

# These tests see what the function did through files on the host.
pytestmark = pytest.mark.host_files

FAST = ["--async-retry-base", "200ms"]


def lines(path):
    try:
        return [l.split(" ", 1) for l in open(path).read().splitlines()]
    except FileNotFoundError:
        return []


def test_event_invocations_through_boto3_and_the_aws_cli(make_server, tmp_path):
    server = make_server(args=FAST)
    server.create("ev", "python3.11", code="py_hello")
    out = tmp_path / "side-effects"
    c = server.client()
    r = c.invoke(FunctionName="ev", InvocationType="Event", Payload=json.dumps({"append": str(out), "mark": "boto3"}))
    assert r["StatusCode"] == 202
    rid = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y", AWS_DEFAULT_REGION="us-east-1")
    res = subprocess.run([*AWS, "lambda", "invoke", "--endpoint-url", server.api, "--function-name", "ev",
                          "--invocation-type", "Event", "--payload", json.dumps({"append": str(out), "mark": "cli"}),
                          str(tmp_path / "o.json")], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["StatusCode"] == 202
    got = wait_until(lambda: lines(out) if len(lines(out)) == 2 else None)
    assert {m for _, m in got} == {'"boto3"', '"cli"'}
    assert rid in {r for r, _ in got}, "the 202's request id is the invocation's"


def test_async_payload_limit_is_1mb(make_server):
    server = make_server()
    server.create("big", "python3.11", code="py_hello")
    r = requests.post(f"{server.api}/2015-03-31/functions/big/invocations",
                      headers={"X-Amz-Invocation-Type": "Event"}, data=b"x" * (1024 * 1024 + 1))
    assert r.status_code == 413 and r.headers["x-amzn-ErrorType"] == "RequestTooLargeException"
    assert "1048576" in r.json()["message"] and "--async-max-payload" in r.json()["message"]
    ok = requests.post(f"{server.api}/2015-03-31/functions/big/invocations",
                       headers={"X-Amz-Invocation-Type": "Event"}, data=json.dumps({"pad": "x" * 1000}))
    assert ok.status_code == 202


def test_retries_then_dead_letter_same_request_id(make_server, tmp_path):
    server = make_server(args=FAST)
    server.create("flaky", "python3.11", code="py_hello")
    out = tmp_path / "attempts"
    r = requests.post(f"{server.api}/2015-03-31/functions/flaky/invocations", headers={"X-Amz-Invocation-Type": "Event"},
                      data=json.dumps({"append": str(out), "then_fail": True, "mark": 1}))
    rid = r.headers["x-amzn-RequestId"]
    wait_until(lambda: len(lines(out)) == 3, timeout=20, what="three attempts")
    assert {r for r, _ in lines(out)} == {rid}, "every attempt has the same request id"
    dlq = wait_until(lambda: (lambda d: d if d else None)(json.loads(server.cli("dlq", "list", "flaky", "--json").stdout)), timeout=10)
    assert len(dlq) == 1 and dlq[0]["request_id"] == rid and dlq[0]["attempts"] == 3
    rec = dlq[0]["record"]
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["approximateInvokeCount"] == 3
    assert rec["requestPayload"]["then_fail"] is True
    assert rec["responseContext"]["functionError"] == "Unhandled"
    assert rec["responsePayload"]["errorType"] == "RuntimeError"
    # Log lines reach the store in batches (every 20 ms): wait for the last one.
    starts = lambda: [e for e in server.logs(request_id=rid) if e["line"].startswith("START")]
    wait_until(lambda: len(starts()) == 3, timeout=5, what="the attempts in the function's logs")
    shown = server.cli("dlq", "show", "flaky", str(dlq[0]["id"])).stdout
    assert rid in shown and "RetriesExhausted" in shown
    time.sleep(0.5)
    assert len(lines(out)) == 3, "no more attempts after the last"
    replay = server.cli("dlq", "replay", "flaky").stdout
    assert "replayed 1" in replay
    wait_until(lambda: len(lines(out)) == 6, timeout=20, what="the replay's attempts")
    wait_until(lambda: json.loads(server.cli("dlq", "list", "flaky", "--json").stdout), timeout=10)
    assert "purged 1" in server.cli("dlq", "purge", "flaky", "--yes").stdout
    assert json.loads(server.cli("dlq", "list", "flaky", "--json").stdout) == []


def test_event_invoke_config_and_destinations(make_server, tmp_path):
    server = make_server(args=FAST)
    sink = tmp_path / "sink"
    server.create("work", "python3.11", code="py_hello")
    server.create("ok-sink", "python3.11", code="py_sink", env={"SINK_FILE": str(sink)})
    server.create("fail-sink", "python3.11", code="py_sink", env={"SINK_FILE": str(sink)})
    c = server.client()
    arn = lambda n: f"arn:aws:lambda:us-east-1:000000000000:function:{n}"
    put = c.put_function_event_invoke_config(
        FunctionName="work", MaximumRetryAttempts=0, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnSuccess": {"Destination": arn("ok-sink")}, "OnFailure": {"Destination": arn("fail-sink")}})
    assert put["MaximumRetryAttempts"] == 0 and put["DestinationConfig"]["OnSuccess"]["Destination"] == arn("ok-sink")
    got = c.get_function_event_invoke_config(FunctionName="work")
    assert got["MaximumEventAgeInSeconds"] == 600
    upd = c.update_function_event_invoke_config(FunctionName="work", MaximumEventAgeInSeconds=900)
    assert upd["MaximumEventAgeInSeconds"] == 900 and upd["MaximumRetryAttempts"] == 0
    assert len(c.list_function_event_invoke_configs(FunctionName="work")["FunctionEventInvokeConfigs"]) == 1
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.put_function_event_invoke_config(FunctionName="work", MaximumRetryAttempts=5)
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.put_function_event_invoke_config(FunctionName="work", DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}})

    c.invoke(FunctionName="work", InvocationType="Event", Payload=json.dumps({"hello": "dest"}))
    c.invoke(FunctionName="work", InvocationType="Event", Payload=json.dumps({"raise": "nope"}))
    records = wait_until(lambda: (lambda rs: rs if len(rs) == 2 else None)([json.loads(l) for l in open(sink)] if sink.exists() else []), timeout=20)
    by = {r["requestContext"]["condition"]: r for r in records}
    ok = by["Success"]
    assert ok["version"] == "1.0" and ok["requestPayload"] == {"hello": "dest"}
    assert ok["responsePayload"]["event"] == {"hello": "dest"}
    assert ok["requestContext"]["functionArn"] == arn("work") + ":$LATEST"
    assert ok["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    bad = by["RetriesExhausted"]
    assert bad["requestContext"]["approximateInvokeCount"] == 1
    assert bad["responsePayload"]["errorMessage"] == "nope"
    assert json.loads(server.cli("dlq", "list", "work", "--json").stdout) == [], "a failure destination, not the dead-letter store"
    c.delete_function_event_invoke_config(FunctionName="work")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function_event_invoke_config(FunctionName="work")


def test_async_never_starves_sync_traffic(make_server, tmp_path):
    server = make_server(args=FAST)
    server.create("busy", "python3.11", code="py_hello", timeout=10, ondol={"MaxConcurrency": 3, "QueueWaitMs": 100})
    c = server.client()
    for _ in range(12):
        c.invoke(FunctionName="busy", InvocationType="Event", Payload=json.dumps({"sleep": 1}))
    wait_until(lambda: server.pool("busy")["running"] >= 2, timeout=10)
    for _ in range(3):
        r = server.invoke("busy", {"quick": True})
        assert r.status_code == 200, f"a synchronous call got through the async backlog: {r.text}"
        time.sleep(0.2)
    assert server.metrics()["engine"]["throttled"]["concurrency"] == 0, "async events waited, none were throttled"


def test_kill_9_loses_no_acknowledged_event(make_server, tmp_path):
    data = tmp_path / "durable"
    out = tmp_path / "delivered"
    s1 = make_server(data, args=FAST)
    s1.create("dur", "python3.11", code="py_hello", ondol={"MaxConcurrency": 2})
    ids = []
    def send(i):
        r = requests.post(f"{s1.api}/2015-03-31/functions/dur/invocations", headers={"X-Amz-Invocation-Type": "Event"},
                          data=json.dumps({"append": str(out), "mark": i, "sleep": 0.1}))
        assert r.status_code == 202
        return r.headers["x-amzn-RequestId"]
    with ThreadPoolExecutor(4) as ex:
        ids = list(ex.map(send, range(40)))
    wait_until(lambda: len(lines(out)) >= 3, timeout=10, what="some deliveries")
    s1.proc.send_signal(signal.SIGKILL)
    s1.proc.wait()
    before = len(lines(out))
    assert before < 40, "killed mid-delivery"
    s2 = make_server(data, args=FAST)
    wait_until(lambda: set(ids) <= {r for r, _ in lines(out)}, timeout=60, what="every acknowledged event")
    assert {int(m) for _, m in lines(out)} == set(range(40))


def test_manifest_async_settings_and_failure_destination(make_server, tmp_path):
    server = make_server(args=FAST)
    d = tmp_path / "app"
    (d / "work").mkdir(parents=True)
    (d / "sink").mkdir()
    import shutil
    from conftest import FUNCTIONS
    shutil.copy(FUNCTIONS / "py_hello" / "app.py", d / "work" / "app.py")
    shutil.copy(FUNCTIONS / "py_sink" / "app.py", d / "sink" / "app.py")
    sink = tmp_path / "records"
    (d / "ondol.toml").write_text(f'''
app = "jobs"

[functions.work]
runtime = "python3.11"
handler = "app.handler"
code = "work"
async = {{ maximum_retry_attempts = 1, maximum_event_age = "10m", on_failure = "sink" }}

[functions.sink]
runtime = "python3.11"
handler = "app.handler"
code = "sink"
environment = {{ SINK_FILE = "{sink}" }}
''')
    server.cli("deploy", str(d))
    cfg = server.client().get_function_event_invoke_config(FunctionName="jobs-work")
    assert cfg["MaximumRetryAttempts"] == 1 and cfg["MaximumEventAgeInSeconds"] == 600
    assert cfg["DestinationConfig"]["OnFailure"]["Destination"].endswith(":function:jobs-sink:live")
    server.client().invoke(FunctionName="jobs-work", InvocationType="Event", Payload=json.dumps({"raise": "x"}))
    rec = wait_until(lambda: [json.loads(l) for l in open(sink)] if sink.exists() else None, timeout=20)[0]
    assert rec["requestContext"]["approximateInvokeCount"] == 2, "one retry"
    # A stage's failures go to that stage's version of the destination.
    prod_sink = tmp_path / "records-prod"
    with open(d / "ondol.toml", "a") as f:
        f.write(f'\n[stages.prod]\nenvironment = {{ SINK_FILE = "{prod_sink}" }}\n')
    server.cli("deploy", str(d), "--stage", "prod")
    cfg = server.client().get_function_event_invoke_config(FunctionName="jobs-work", Qualifier="prod")
    assert cfg["DestinationConfig"]["OnFailure"]["Destination"].endswith(":function:jobs-sink:prod")
    server.client().invoke(FunctionName="jobs-work", Qualifier="prod", InvocationType="Event",
                           Payload=json.dumps({"raise": "x"}))
    rec = wait_until(lambda: [json.loads(l) for l in open(prod_sink)] if prod_sink.exists() else None,
                     timeout=20)[0]
    assert rec["requestContext"]["functionArn"].endswith(":function:jobs-work:prod"), rec
    assert len(open(sink).readlines()) == 1, "the $default stage's destination got nothing more"
    bad = (d / "ondol.toml").read_text().replace('on_failure = "sink"', 'on_failure = "nowhere"')
    (d / "ondol.toml").write_text(bad)
    r = server.cli("deploy", str(d), check=False)
    assert "functions.work.async.on_failure: expected one of the functions" in r.stderr, r.stderr
