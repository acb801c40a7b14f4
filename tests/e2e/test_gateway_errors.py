"""The front door's error answers end to end: every cause, with errors exposed
(`--expose-errors`, the default of `ondol dev` / `up`) and not (`serve`'s default,
API Gateway's bodies plus an `x-ondol-error` header), through routes and a
Function URL, with the request id the server log names."""
import re
from pathlib import Path

import pytest
import requests

from conftest import Server, wait_until, zip_dir

APP = Path(__file__).parent / "apps" / "gwerr"
ISE = "Internal Server Error"
TIMED_OUT = "Endpoint request timed out"


def deployed(tmp_path_factory, name, **kw):
    s = Server(tmp_path_factory.mktemp(name) / "data", **kw)
    out = s.cli("deploy", str(APP), timeout=120)
    assert "deployed gwerr" in out.stdout, out.stdout + out.stderr
    # A deploy refuses code that cannot start: the broken ones come after it.
    c = s.client()
    for fn in ("gwerr-badinit", "gwerr-deaf"):
        c.update_function_code(FunctionName=fn, ZipFile=zip_dir(APP / "broken" / fn[6:]))
        version = c.publish_version(FunctionName=fn)["Version"]
        for alias in c.list_aliases(FunctionName=fn)["Aliases"]:
            c.update_alias(FunctionName=fn, Name=alias["Name"], FunctionVersion=version)
    return s


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    s = deployed(tmp_path_factory, "shown", extra_args=["--expose-errors"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    s = deployed(tmp_path_factory, "hidden")
    yield s
    s.stop()


def get(s, path, **kw):
    return requests.get(s.http + path, timeout=30, **kw)


def logged(s, rid, kind):
    """The server's one error line for this request, naming its type."""
    return wait_until(
        lambda: next((l for l in s.output().splitlines()
                      if f"request_id={rid}" in l and f"error={kind}" in l), None),
        what=f"the {kind} log line for {rid}")


def exposed(r, status, message, kind, *words):
    """An exposed error: API Gateway's message, plus the type, cause and request id."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["message"] == message, body
    assert body["errorType"] == kind and r.headers["x-ondol-error"] == kind, body
    rid = r.headers["apigw-requestid"]
    assert body["requestId"] == rid, body
    for w in words:
        assert w in body["cause"], (w, body["cause"])
    return body["cause"], rid


def hidden_as_aws(r, status, message, kind):
    """A production error: exactly API Gateway's body; only the header has the type."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json() == {"message": message}, r.text
    assert r.headers["x-ondol-error"] == kind
    return r.headers["apigw-requestid"]


CASES = [
    # path, status, message, type, words of the exposed cause
    ("/boom?mode=crash", 502, ISE, "Crashed", ["function crashed: exit status 3"]),
    ("/boom?mode=raise", 502, ISE, "FunctionError", ["ValueError", "the order has no lines"]),
    ("/boom?mode=sleep", 504, TIMED_OUT, "Timeout", ["timed out after 2 s", "`timeout`"]),
    ("/slow?mode=sleep", 504, TIMED_OUT, "Timeout", ["timed out after 500 ms", "route's"]),
    ("/boom?mode=huge", 502, ISE, "ResponseTooLarge",
     ["response of 1.5 MB is over the 1 MB limit", "max_response_bytes"]),
    ("/v1/boom?mode=malformed", 502, ISE, "BadFunctionResponse", ["statusCode"]),
    ("/badinit", 502, ISE, "InitFailed", ["init failed", "Runtime.ImportModuleError", "stripe"]),
    ("/nowhere", 404, "Not Found", "RouteNotFound", ["no route matches GET /nowhere"]),
    ("/off", 503, "Service Unavailable", "Throttled", ["throttled"]),
]


@pytest.mark.parametrize("path,status,message,kind,words", CASES, ids=[c[3] + c[0] for c in CASES])
def test_each_cause_is_named_when_exposed(shown, path, status, message, kind, words):
    r = get(shown, path)
    cause, rid = exposed(r, status, message, kind, *words)
    line = logged(shown, rid, kind)
    assert cause.split(":")[0] in line, (cause, line)


@pytest.mark.parametrize("path,status,message,kind,words", CASES, ids=[c[3] + c[0] for c in CASES])
def test_production_bodies_stay_api_gateways(hidden, path, status, message, kind, words):
    rid = hidden_as_aws(get(hidden, path), status, message, kind)
    line = logged(hidden, rid, kind)
    assert words[0] in line, ("the log still says what happened", line)


def test_a_web_app_not_on_its_port_is_told_which_port(shown, hidden):
    r = get(shown, "/deaf")
    cause, rid = exposed(r, 502, ISE, "NotListening", "never answered GET / on port",
                         "must listen on that port")
    port = re.search(r"PORT=(\d+)", cause).group(1)
    assert f"port {port}" in cause
    assert f"PORT={port}" in logged(shown, rid, "NotListening"), "the server log says it too"
    rid = hidden_as_aws(get(hidden, "/deaf"), 502, ISE, "NotListening")
    assert "must listen on that port" in logged(hidden, rid, "NotListening")


def test_request_body_over_the_limit(shown, hidden):
    limit = "Request body exceeds the limit of 16384 bytes; raise [http].max_request_body in ondol.toml"
    r = requests.post(shown.http + "/boom", data=b"x" * 20000, timeout=30)
    exposed(r, 413, limit, "PayloadTooLarge", "16 KB", "max_request_body")
    r = requests.post(hidden.http + "/boom", data=b"x" * 20000, timeout=30)
    hidden_as_aws(r, 413, limit, "PayloadTooLarge")


def url_get(s, path):
    c = s.client()
    try:
        url = c.create_function_url_config(FunctionName="gwerr-boom", AuthType="NONE")["FunctionUrl"]
    except c.exceptions.ResourceConflictException:
        url = c.get_function_url_config(FunctionName="gwerr-boom")["FunctionUrl"]
    port = url.rsplit(":", 1)[1].strip("/")
    host = url.split("//")[1].split(":")[0]
    return requests.get(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}"}, timeout=30)


def test_function_url_errors_are_the_same(shown, hidden):
    cause, rid = exposed(url_get(shown, "/?mode=crash"), 502, ISE, "Crashed", "exit status 3")
    logged(shown, rid, "Crashed")
    exposed(url_get(shown, "/?mode=sleep"), 504, TIMED_OUT, "Timeout", "timed out after 2 s")
    rid = hidden_as_aws(url_get(hidden, "/?mode=crash"), 502, ISE, "Crashed")
    assert "exit status 3" in logged(hidden, rid, "Crashed")


def test_a_throttled_function_url_is_429_with_lambdas_words(shown, hidden):
    for s in (shown, hidden):
        s.client().put_function_concurrency(FunctionName="gwerr-boom", ReservedConcurrentExecutions=0)
    try:
        r = url_get(hidden, "/")
        hidden_as_aws(r, 429, "Rate Exceeded.", "Throttled")
        assert r.headers["retry-after"] == "1"
        exposed(url_get(shown, "/"), 429, "Rate Exceeded.", "Throttled", "throttled")
    finally:
        for s in (shown, hidden):
            s.client().delete_function_concurrency(FunctionName="gwerr-boom")


def test_env_turns_exposure_on_and_flag_value_off(tmp_path):
    on = Server(tmp_path / "on", env={"ONDOL_EXPOSE_ERRORS": "1"})
    try:
        r = get(on, "/nowhere")
        assert r.json()["errorType"] == "RouteNotFound"
    finally:
        on.stop()
    off = Server(tmp_path / "off", extra_args=["--expose-errors=false"])
    try:
        assert get(off, "/nowhere").json() == {"message": "Not Found"}
    finally:
        off.stop()
