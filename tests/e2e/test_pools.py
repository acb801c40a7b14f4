"""Warm pools: parallel instances, limits, queueing, throttling, min_warm, scale to zero."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until


def parallel(server, name, n, payload):
    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(lambda _: server.invoke(name, payload), range(n)))


def test_parallel_invocations_get_their_own_instances(server):
    server.create("par", "python3.11", code="py_hello", ondol={"MaxConcurrency": 4})
    rs = parallel(server, "par", 4, {"sleep": 0.5})
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
    assert len({r.json()["instance"] for r in rs}) == 4
    assert server.pool("par")["running"] == 4


def test_at_the_limit_requests_queue_then_are_served(server):
    server.create("q", "python3.11", code="py_hello",
                  ondol={"MaxConcurrency": 2, "QueueWaitMs": 10000})
    rs = parallel(server, "q", 5, {"sleep": 0.3})
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
    assert len({r.json()["instance"] for r in rs}) == 2, "queued requests reuse the two instances"


def test_past_the_queue_wait_requests_are_throttled_with_a_reason(server):
    server.create("t", "python3.11", code="py_hello",
                  ondol={"MaxConcurrency": 1, "QueueWaitMs": 100})
    client = server.client(retries=1)

    def call(_):
        try:
            client.invoke(FunctionName="t", Payload=json.dumps({"sleep": 1}))
            return "ok"
        except client.exceptions.TooManyRequestsException as e:
            return e.response

    with ThreadPoolExecutor(3) as ex:
        out = list(ex.map(call, range(3)))
    throttled = [o for o in out if o != "ok"]
    assert out.count("ok") == 1 and len(throttled) == 2, out
    err = throttled[0]
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "max_concurrency=1" in err["Error"]["Message"]
    assert server.metrics()["engine"]["throttled"]["concurrency"] == 2


def test_a_full_queue_throttles_at_once(server):
    server.create("full", "python3.11", code="py_hello",
                  ondol={"MaxConcurrency": 1, "QueueDepth": 1, "QueueWaitMs": 5000})
    rs = parallel(server, "full", 3, {"sleep": 1})
    codes = sorted(r.status_code for r in rs)
    assert codes == [200, 200, 429], [r.text for r in rs]
    throttled = [r for r in rs if r.status_code == 429][0]
    assert "queue_depth=1" in throttled.json()["message"]
    assert throttled.headers["Retry-After"] == "1"


def test_concurrency_zero_disables_the_function(server):
    server.create("off", "python3.11", code="py_hello", ondol={"MaxConcurrency": 0})
    with pytest.raises(ClientError) as e:
        server.client().invoke(FunctionName="off", Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert e.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_min_warm_instances_exist_before_the_first_call(server):
    server.create("warm", "python3.11", code="py_hello", ondol={"MinWarm": 2})
    wait_until(lambda: server.pool("warm")["idle"] == 2, timeout=10, what="two warm instances")
    r = server.client().invoke(FunctionName="warm", Payload=b"{}", LogType="Tail")
    import base64
    log = base64.b64decode(r["LogResult"]).decode()
    assert "Init Duration" not in log, "the first call found a warm instance"
    env = json.loads(r["Payload"].read())["env"]
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"


def test_idle_instances_scale_to_zero(server):
    server.create("idle", "python3.11", code="py_hello", ondol={"IdleTimeoutMs": 500})
    pid = server.invoke("idle").json()["instance"]
    assert server.pool("idle")["running"] == 1
    wait_until(lambda: server.pool("idle")["running"] == 0, timeout=10, what="scale to zero")
    import os
    wait_until(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z",
               timeout=5, what="the idle process to exit")
    assert server.invoke("idle").json()["instance"] != pid, "a new cold instance after scale to zero"


def test_min_warm_survives_idle_timeout(server):
    server.create("keep", "python3.11", code="py_hello", ondol={"MinWarm": 1, "IdleTimeoutMs": 200})
    wait_until(lambda: server.pool("keep")["idle"] == 1, timeout=10)
    parallel(server, "keep", 3, {"sleep": 0.3})
    wait_until(lambda: server.pool("keep")["running"] == 1, timeout=10, what="back down to min_warm")


def test_memory_budget_evicts_idle_instances_of_other_functions(make_server):
    server = make_server(args=["--memory-budget-mb", "256"])
    server.create("a", "python3.11", code="py_hello", memory=256)
    server.create("b", "python3.11", code="py_hello", memory=256)
    server.invoke("a")
    assert server.pool("a")["idle"] == 1
    r = server.invoke("b")
    assert r.status_code == 200, r.text
    assert server.pool("a")["running"] == 0, "a's idle instance was evicted for b"
    assert server.metrics()["engine"]["evictions"] == 1


def test_memory_budget_throttles_when_nothing_can_be_evicted(make_server):
    server = make_server(args=["--memory-budget-mb", "256"])
    server.create("a", "python3.11", code="py_hello", memory=256, ondol={"QueueWaitMs": 200})
    server.create("b", "python3.11", code="py_hello", memory=256, ondol={"QueueWaitMs": 200})
    with ThreadPoolExecutor(2) as ex:
        fa = ex.submit(server.invoke, "a", {"sleep": 1.5})
        wait_until(lambda: server.pool("a")["running"] == 1, timeout=5)
        rb = server.invoke("b")
        assert fa.result().status_code == 200
    assert rb.status_code == 429
    assert rb.json()["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert "memory budget" in rb.json()["message"]
