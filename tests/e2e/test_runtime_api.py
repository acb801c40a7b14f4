"""The Runtime API's own answers, probed by a runtime written against it by hand."""
from concurrent.futures import ThreadPoolExecutor


def test_runtime_api_refusals_and_response_limit(server):
    server.create("raw", "provided.al2023", handler="x", code="raw_runtime",
                  ondol={"MaxResponseBytes": 10000})
    r = server.invoke("raw")
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    assert r.json()["errorType"] == "Function.ResponseSizeTooLarge"
    second = server.invoke("raw")
    seen = second.json()
    assert "next_headers" in seen, second.text
    assert seen["next_headers"] == ["lambda-runtime-aws-request-id", "lambda-runtime-deadline-ms",
                                    "lambda-runtime-invoked-function-arn"]
    assert seen["deadline_ok"] is True
    assert seen["unknown_id"] == [400, "InvalidRequestID"]
    assert seen["init_error_after_init"] == [403, "InvalidStateTransition"]
    status, kind, message = seen["too_large"]
    assert (status, kind) == (413, "RequestEntityTooLarge")
    assert message == "Exceeded maximum allowed payload size (10100 bytes)."
    assert seen["after_done"] == [400, "InvalidRequestID"]


def test_init_timeout_is_bounded(server):
    server.create("stuck", "provided", handler="x", code="slow_init", ondol={"InitTimeoutMs": 500})
    r = server.invoke("stuck", timeout=30)
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    body = r.json()
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Init timed out after 0.50 seconds" in body["errorMessage"]
    assert server.pool("stuck")["running"] == 0, "the stuck instance was killed"


def test_warm_reuse_is_most_recently_used_first(server):
    server.create("mru", "python3.11", code="py_hello", ondol={"MaxConcurrency": 3})
    with ThreadPoolExecutor(3) as ex:
        pids = {r.json()["instance"] for r in ex.map(lambda _: server.invoke("mru", {"sleep": 0.3}), range(3))}
    assert len(pids) == 3
    seq = [server.invoke("mru").json()["instance"] for _ in range(6)]
    assert len(set(seq)) == 1, f"sequential calls stay on the most recently used instance: {seq}"
