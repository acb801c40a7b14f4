"""Each runtime, cold then warm, through the real binary and real clients."""
import base64
import json

import pytest

from conftest import RUST_BOOTSTRAP, report_lines, zip_dir


def invoke_twice(server, name, payload):
    c = server.client()
    out = []
    for _ in range(2):
        r = c.invoke(FunctionName=name, Payload=json.dumps(payload), LogType="Tail")
        assert r["StatusCode"] == 200
        assert "FunctionError" not in r, r["Payload"].read()
        assert r["ExecutedVersion"] == "$LATEST"
        out.append((json.loads(r["Payload"].read()), report_lines(r["LogResult"])))
    (first, rep1), (second, rep2) = out
    assert len(rep1) == 1 and "Init Duration:" in rep1[0], rep1
    assert len(rep2) == 1 and "Init Duration:" not in rep2[0], rep2
    return first, second


def test_python_cold_then_warm_with_lambda_context(server):
    server.create("py", "python3.11", code="py_hello", env={"GREETING": "hi"}, memory=256, timeout=5)
    first, second = invoke_twice(server, "py", {"name": "ondol"})
    assert first["instance"] == second["instance"], "the warm call reuses the instance"
    assert first["event"] == {"name": "ondol"}
    assert first["function_name"] == "py"
    assert first["function_version"] == "$LATEST"
    assert first["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:py"
    assert first["memory_limit_in_mb"] in (256, "256")
    assert first["log_group_name"] == "/aws/lambda/py"
    assert "[$LATEST]" in first["log_stream_name"]
    assert 0 < first["remaining_ms"] <= 5000
    env = first["env"]
    assert env["GREETING"] == "hi"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "py"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["TZ"] == ":UTC" and env["LANG"] == "en_US.UTF-8"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler"
    host, port = env["AWS_LAMBDA_RUNTIME_API"].split(":")
    assert host == "127.0.0.1" and port.isdigit(), "bare host:port"


def test_python_dotted_package_handler(server):
    server.create("pkg", "python3.12", handler="pkg.sub.mod.handle", code="py_pkg")
    r = server.invoke("pkg", {"name": "x"})
    assert r.json() == {"dotted": True, "name": "x"}


def test_python_client_context_reaches_the_handler(server):
    server.create("py", "python3.11", code="py_hello")
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    r = server.client().invoke(FunctionName="py", Payload=b"{}", ClientContext=ctx)
    assert json.loads(r["Payload"].read())["client_context"] == {"k": "v"}


def test_python_exception_is_lambda_shaped(server):
    server.create("py", "python3.11", code="py_hello")
    r = server.client().invoke(FunctionName="py", Payload=json.dumps({"raise": "boom"}))
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    body = json.loads(r["Payload"].read())
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert any("app.py" in frame for frame in body["stackTrace"])


def test_node_cold_then_warm(server):
    server.create("node", "nodejs20.x", handler="index.handler", code="node_hello")
    first, second = invoke_twice(server, "node", {"a": 1})
    assert first["instance"] == second["instance"]
    assert first["event"] == {"a": 1}
    assert first["functionName"] == "node"
    assert first["memoryLimitInMB"] == "128"
    assert first["invokedFunctionArn"].endswith(":function:node")
    assert 0 < first["remaining"] <= 3000


def test_node_mjs_and_callback_handlers(server):
    server.create("mjs", "nodejs22.x", handler="index.handler", code="node_mjs")
    server.create("cb", "nodejs20.x", handler="index.handler", code="node_cb")
    assert server.invoke("mjs", {"x": 1}).json() == {"esm": True, "got": {"x": 1}}
    assert server.invoke("cb", {"n": 7}).json() == {"callback": True, "n": 7}


def test_node_error_is_lambda_shaped(server):
    server.create("node", "nodejs20.x", handler="index.handler", code="node_hello")
    r = server.invoke("node", {"raise": "bad type"})
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    body = r.json()
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "bad type"


@pytest.fixture
def rust_zip():
    if not RUST_BOOTSTRAP.exists():
        pytest.fail(f"{RUST_BOOTSTRAP} is missing: build it with `cargo build --release -p rust-hello`")
    return zip_dir(None, {"bootstrap": RUST_BOOTSTRAP.read_bytes()})


def test_rust_lambda_runtime_cold_then_warm(server, rust_zip):
    for rt in ("provided.al2023", "provided.al2", "provided"):
        name = rt.replace(".", "-")
        server.create(name, rt, handler="bootstrap", zip_bytes=rust_zip)
    first, second = invoke_twice(server, "provided-al2023", {"name": "rust"})
    assert first["hello"] == "rust"
    assert first["function_arn"].endswith(":function:provided-al2023")
    assert first["request_id"] != second["request_id"]
    assert first["deadline"] > 1_600_000_000_000, "a real epoch deadline"
    for name in ("provided-al2", "provided"):
        assert server.invoke(name, {"name": name}).json()["hello"] == name


def test_rust_function_error(server, rust_zip):
    server.create("rs", "provided.al2023", handler="bootstrap", zip_bytes=rust_zip)
    r = server.invoke("rs", {"fail": True})
    assert r.headers["X-Amz-Function-Error"] == "Unhandled"
    assert "asked to fail" in r.json()["errorMessage"]
    assert server.invoke("rs", {}).json()["hello"] == "world", "healthy after an error"


def test_awslambdaric_runs_unchanged(server):
    server.create("ric", "python3.11", code="py_ric", timeout=10, image_config={
        "EntryPoint": ["python3", "-m", "awslambdaric"], "Command": ["app.handler"]})
    c = server.client()
    first = c.invoke(FunctionName="ric", Payload=json.dumps({"k": 1}), LogType="Tail")
    body = json.loads(first["Payload"].read())
    assert "FunctionError" not in first, body
    assert body["ric"] is True and body["event"] == {"k": 1}
    assert body["arn"].endswith(":function:ric")
    assert "Init Duration" in report_lines(first["LogResult"])[0]
    second = json.loads(c.invoke(FunctionName="ric", Payload=b"{}")["Payload"].read())
    assert second["instance"] == body["instance"]
