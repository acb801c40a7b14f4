"""The HTTP front door end to end: a real app deployed with `ondol deploy`, real
HTTP clients, both payload formats, web mode, CORS, limits and errors."""
import gzip
import json
import time
from pathlib import Path

import pytest
import requests

from conftest import Server, wait_until

APP = Path(__file__).parent / "apps" / "gw"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("gw") / "data")
    out = s.cli("deploy", str(APP), timeout=120)
    assert "deployed gw: 4 uploaded, 0 unchanged" in out.stdout, out.stdout
    yield s
    s.stop()


def get(gw, path, **kw):
    return requests.get(gw.http + path, timeout=30, **kw)


def test_payload_v2_event_fields(gw):
    r = requests.post(gw.http + "/v2/a%20b/c?x=1&x=2&y=3", data=b'{"k": 1}',
                      headers={"content-type": "application/json", "X-Custom": "v1", "Cookie": "c1=a; c2=b",
                               "User-Agent": "tester"}, timeout=30)
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["version"] == "2.0"
    assert ev["routeKey"] == "ANY /v2/{proxy+}"
    assert ev["rawPath"] == "/v2/a%20b/c"
    assert ev["rawQueryString"] == "x=1&x=2&y=3"
    assert ev["queryStringParameters"] == {"x": "1,2", "y": "3"}
    assert ev["pathParameters"] == {"proxy": "a b/c"}
    assert ev["cookies"] == ["c1=a", "c2=b"]
    assert "cookie" not in ev["headers"]
    assert ev["headers"]["x-custom"] == "v1"
    assert ev["body"] == '{"k": 1}' and ev["isBase64Encoded"] is False
    ctx = ev["requestContext"]
    assert ctx["http"] == {"method": "POST", "path": "/v2/a b/c", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "tester"}
    assert ctx["routeKey"] == "ANY /v2/{proxy+}" and ctx["stage"] == "$default"
    assert ctx["requestId"] == r.headers["apigw-requestid"]
    assert ctx["accountId"] == "000000000000"
    assert isinstance(ctx["timeEpoch"], int) and "+0000" in ctx["time"]
    assert "stageVariables" not in ev, "absent fields are omitted in 2.0"


def test_payload_v1_event_fields(gw):
    r = get(gw, "/items/42?tag=a&tag=b&single=1", headers={"X-Custom": "one"})
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["resource"] == "/items/{id}"
    assert ev["path"] == "/items/42"
    assert ev["httpMethod"] == "GET"
    assert ev["pathParameters"] == {"id": "42"}
    assert ev["queryStringParameters"]["single"] == "1"
    assert ev["queryStringParameters"]["tag"] == "b", "the single-value map keeps the last value"
    assert ev["multiValueQueryStringParameters"]["tag"] == ["a", "b"], "every value is kept"
    assert ev["headers"]["X-Custom"] == "one"
    assert ev["multiValueHeaders"]["X-Custom"] == ["one"]
    assert ev["body"] is None and ev["isBase64Encoded"] is False
    assert ev["stageVariables"] is None
    ctx = ev["requestContext"]
    assert ctx["resourcePath"] == "/items/{id}" and ctx["httpMethod"] == "GET"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["requestId"] == r.headers["x-amzn-requestid"]
    none = get(gw, "/items/1").json()
    assert none["queryStringParameters"] is None and none["multiValueQueryStringParameters"] is None


def test_query_strings_done_right(gw):
    ev = get(gw, "/v2/q?idList=1;2;3&filter=name;phone&id=1&id=2&id=3&enc=a%26b%3Dc&sp=x%20y").json()
    q = ev["queryStringParameters"]
    assert q["idList"] == "1;2;3" and q["filter"] == "name;phone", "; is data"
    assert q["id"] == "1,2,3"
    assert q["enc"] == "a&b=c" and q["sp"] == "x y"
    assert ev["rawQueryString"] == "idList=1;2;3&filter=name;phone&id=1&id=2&id=3&enc=a%26b%3Dc&sp=x%20y"
    v1 = get(gw, "/items/7?idList=1;2;3&id=1&id=2").json()
    assert v1["multiValueQueryStringParameters"]["id"] == ["1", "2"]
    assert v1["queryStringParameters"]["idList"] == "1;2;3"


def test_binary_upload_and_download(gw):
    blob = bytes(range(256)) * 4
    ev = requests.post(gw.http + "/v2/up", data=blob, headers={"content-type": "application/octet-stream"}).json()
    assert ev["isBase64Encoded"] is True
    import base64
    assert base64.b64decode(ev["body"]) == blob
    r = get(gw, "/v2/x?mode=binary")
    assert r.content == bytes(range(256))
    assert r.headers["content-type"] == "application/octet-stream"


def test_response_formats(gw):
    r = get(gw, "/v2/x?mode=raw")
    assert r.status_code == 200 and r.json() == {"inferred": True, "n": 1}
    assert r.headers["content-type"] == "application/json"
    assert get(gw, "/v2/x?mode=string").text == "just text"
    r = get(gw, "/v2/x?mode=cookies")
    assert r.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    r = requests.post(gw.http + "/items/1?mode=multi")
    assert r.raw.headers.getlist("x-many") == ["a", "b"] and r.headers["x-one"] == "1"


def test_function_error_and_malformed_response_are_502(gw):
    r = get(gw, "/v2/x?mode=error")
    assert r.status_code == 502 and r.json() == {"message": "Internal Server Error"}
    rid = r.headers["apigw-requestid"]
    lines = gw.request_log(rid)
    assert any("RuntimeError" in l or "the handler failed" in l for l in lines), lines
    assert f"request_id={rid}" in gw.output() and "error=FunctionError" in gw.output()
    assert get(gw, "/items/1?mode=malformed").status_code == 502
    assert get(gw, "/v2/x?mode=malformed").status_code == 502
    assert "error=BadFunctionResponse" in gw.output()


def test_route_timeout_is_504_and_has_no_30s_cap(gw):
    r = get(gw, "/short?mode=sleep&s=2")
    assert r.status_code == 504
    ok = get(gw, "/v2/x?mode=sleep&s=0.1")
    assert ok.status_code == 200


def test_function_timeout_is_504(gw):
    r = get(gw, "/v2/x?mode=sleep&s=8")
    assert r.status_code == 504


def test_body_over_the_limit_is_413_naming_it(gw):
    r = requests.post(gw.http + "/v2/big", data=b"x" * (65 * 1024))
    assert r.status_code == 413
    assert "65536" in r.json()["message"] and "max_request_body" in r.json()["message"]


def test_cors_preflight_for_patch_and_headers_on_every_method(gw):
    pre = requests.options(gw.http + "/items/5", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "x-token"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://app.example"
    assert "PATCH" in pre.headers["access-control-allow-methods"]
    assert "x-token" in pre.headers["access-control-allow-headers"]
    assert pre.headers["access-control-max-age"] == "600"
    for method in ("GET", "POST", "DELETE", "PATCH"):
        r = requests.request(method, gw.http + "/v2/c", headers={"Origin": "https://app.example"})
        assert r.headers.get("access-control-allow-origin") == "https://app.example", method
    other = requests.get(gw.http + "/v2/c", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    own = requests.options(gw.http + "/own-options", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
    assert own.status_code == 200, "a route's own OPTIONS takes the preflight"
    assert own.json()["requestContext"]["http"]["method"] == "OPTIONS"


def test_rate_limit_is_429_with_retry_after(gw):
    codes = [requests.get(gw.http + "/limited").status_code for _ in range(5)]
    assert codes[:2] == [200, 200]
    assert 429 in codes[2:]
    r = requests.get(gw.http + "/limited")
    if r.status_code == 429:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json() == {"message": "Too Many Requests"}


def test_no_route_is_404(gw):
    r = get(gw, "/nothing/here")
    assert r.status_code == 404 and r.json() == {"message": "Not Found"}
    assert r.headers["apigw-requestid"]


def test_compression_when_accepted(gw):
    r = requests.get(gw.http + "/v2/x?mode=big", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers["content-encoding"] == "gzip"
    raw = r.raw.read()
    assert len(raw) < 10000 and gzip.decompress(raw).count(b"y") == 90000
    br = requests.get(gw.http + "/v2/x?mode=big", headers={"Accept-Encoding": "br"}, stream=True)
    assert br.headers["content-encoding"] == "br"
    plain = requests.get(gw.http + "/v2/x?mode=big", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(plain.content) == 90000


def test_flask_in_web_mode(gw):
    r = requests.post(gw.http + "/flask/a/b?x=1&x=2", data=b"hello", headers={"Connection": "keep-alive"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["path"] == "/flask/a/b" and j["rest"] == "a/b" and j["method"] == "POST"
    assert j["args"] == {"x": ["1", "2"]} and j["body_len"] == 5
    assert j["forwarded_for"] == "127.0.0.1" and j["forwarded_proto"] == "http"
    assert j["forwarded_host"].startswith("127.0.0.1:")
    with requests.Session() as s:
        pids = {s.get(gw.http + "/flask/x").json()["instance"] for _ in range(5)}
    assert len(pids) == 1, "a warm instance serves them"
    rid = r.headers["apigw-requestid"]
    access = wait_until(lambda: next((l for l in gw.output().splitlines() if rid in l and "ondol::access" in l), None))
    assert "route=ANY /flask/{proxy+}" in access and "status=200" in access
    app_lines = wait_until(lambda: [e["line"] for e in gw.logs(function="gw-flask") if "/flask/a/b" in e["line"]] or None)
    assert any("POST /flask/a/b" in l for l in app_lines), "the app's own output is in the function's logs"


def test_web_mode_streams_the_response(gw):
    t0 = time.time()
    r = requests.get(gw.http + "/stream", stream=True, headers={"Accept-Encoding": "identity"})
    chunks = []
    for line in r.iter_lines():
        chunks.append((time.time() - t0, line))
    assert len(chunks) == 5
    first, last = chunks[0][0], chunks[-1][0]
    assert last - first >= 0.9, f"chunks arrived as they were written, not at the end: {chunks}"


def test_access_log_line(gw):
    r = get(gw, "/items/9")
    rid = r.headers["x-amzn-requestid"]
    line = wait_until(lambda: next((l for l in gw.output().splitlines() if rid in l and "ondol::access" in l), None))
    for part in ("method=GET", "path=/items/9", "route=GET /items/{id}", "status=200", "duration_ms=", "cold_start="):
        assert part in line, line


def test_function_url_is_served(gw):
    c = gw.client()
    url = c.create_function_url_config(FunctionName="gw-echo", AuthType="NONE")["FunctionUrl"]
    port = url.rsplit(":", 1)[1].strip("/")
    host = url.split("//")[1].split(":")[0]
    r = requests.get(f"http://127.0.0.1:{port}/any/path?q=1", headers={"Host": f"{host}:{port}"})
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["routeKey"] == "$default" and ev["rawPath"] == "/any/path"
    assert ev["requestContext"]["domainName"] == host
    c.update_function_url_config(FunctionName="gw-echo", AuthType="AWS_IAM")
    denied = requests.get(f"http://127.0.0.1:{port}/x", headers={"Host": f"{host}:{port}"})
    assert denied.status_code == 403, "an AWS_IAM URL is never served unauthenticated"


def test_lambda_runtime_streaming_reaches_the_client_as_sent(gw):
    t0 = time.time()
    r = requests.get(gw.http + "/rstream", stream=True, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 201, r.text
    assert r.headers["x-streamed"] == "yes" and r.headers["set-cookie"] == "s=1"
    lines = [(time.time() - t0, l) for l in r.iter_lines()]
    assert [l.split(b" at ")[0] for _, l in lines] == [b"part %d" % i for i in range(5)]
    assert lines[-1][0] - lines[0][0] >= 0.9, "parts arrived as they were sent"
    plain = requests.get(gw.http + "/rstream?plain=1")
    assert plain.status_code == 200 and plain.headers["content-type"] == "text/plain"
    assert plain.text.count("part") == 5


def test_a_stream_that_fails_midway_is_cut_and_logged(gw):
    r = requests.get(gw.http + "/rstream?fail=1", stream=True, headers={"Accept-Encoding": "identity"})
    got = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in r.iter_content(None):
            got += chunk
    assert b"part 0" in got and b"part 4" not in got
    rid = r.headers["apigw-requestid"]
    lines = gw.request_log(rid)
    assert any("Runtime.StreamError" in l for l in lines), lines
    ok = requests.get(gw.http + "/rstream?plain=1")
    assert ok.status_code == 200, "the instance serves again"


def test_routes_can_be_bound_to_a_host(gw):
    port = gw.http.rsplit(":", 1)[1]
    r = requests.get(gw.http + "/hosted", headers={"Host": f"api.shop.test:{port}"})
    assert r.status_code == 200 and r.json()["requestContext"]["domainName"] == "api.shop.test"
    assert requests.get(gw.http + "/hosted").status_code == 404, "other hosts don't see it"


def test_response_over_the_function_limit_is_502_and_logged(gw):
    r = get(gw, "/v2/x?mode=huge")
    assert r.status_code == 502
    rid = r.headers["apigw-requestid"]
    lines = gw.request_log(rid)
    assert any("max_response_bytes" in l for l in lines), lines


def test_invoke_with_response_stream_streams_chunks(gw):
    c = gw.client()
    r = c.invoke_with_response_stream(FunctionName="gw-rstream", Payload=json.dumps({"queryStringParameters": {"plain": "1"}}))
    t0 = time.time()
    arrivals = []
    for e in r["EventStream"]:
        if "PayloadChunk" in e:
            arrivals.append((time.time() - t0, e["PayloadChunk"]["Payload"]))
        else:
            assert e["InvokeComplete"].get("ErrorCode") is None
    assert len(arrivals) == 5 and arrivals[-1][0] - arrivals[0][0] >= 0.9, arrivals
    failed = list(c.invoke_with_response_stream(FunctionName="gw-rstream", Payload=json.dumps(
        {"queryStringParameters": {"plain": "1", "fail": "1"}}))["EventStream"])
    done = [e["InvokeComplete"] for e in failed if "InvokeComplete" in e][0]
    assert done["ErrorCode"] == "Runtime.StreamError" and "broke mid-stream" in done["ErrorDetails"]
