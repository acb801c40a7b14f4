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
    server.create("pkg", "python3.11", handler="pkg.sub.mod.handle", code="py_pkg")
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
    server.create("mjs", "nodejs20.x", handler="index.handler", code="node_mjs")
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


@pytest.fixture(scope="module")
def ric_zip(tmp_path_factory):
    """py_ric with awslambdaric installed beside it, as its owner would ship it
    (the host's site-packages are not the function's)."""
    import subprocess
    import sys
    from conftest import FUNCTIONS
    deps = tmp_path_factory.mktemp("ric")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--only-binary=:all:", "-t", str(deps), "awslambdaric"], check=True, timeout=300)
    extra = {str(p.relative_to(deps)): p.read_bytes() for p in deps.rglob("*") if p.is_file()}
    return zip_dir(FUNCTIONS / "py_ric", extra)


def test_awslambdaric_runs_unchanged(server, ric_zip):
    server.create("ric", "python3.11", zip_bytes=ric_zip, timeout=10, image_config={
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


def test_host_packages_are_not_the_functions(server):
    # pytest is in this interpreter's site-packages on the host, not in the function.
    server.create("host", "python3.11", handler="app.handler", zip_bytes=zip_dir(None, {
        "app.py": b"import pytest\ndef handler(e, c):\n    return 1\n"}))
    r = server.invoke("host", {})
    assert r.json()["errorType"] == "Runtime.ImportModuleError", r.text
    assert "No module named 'pytest'" in r.json()["errorMessage"], r.text


def test_each_runtime_runs_on_exactly_its_version_and_says_so(make_server):
    import requests
    from conftest import wait_until
    server = make_server(args=["--runtime", "python3.12=python3.11"])
    # What this node offers, as the operator sees it.
    out = server.cli("runtimes").stdout
    assert "python3.11" in out and "python3.12" in out and "alias of python3.11" in out, out
    listed = {r["runtime"]: r for r in requests.get(f"{server.api}/ondol/v1/runtimes", timeout=10).json()["Runtimes"]}
    assert listed["python3.11"]["version"].startswith("python:3.11."), listed
    server.create("v311", "python3.11", handler="app.handler", zip_bytes=zip_dir(None, {
        "app.py": b"import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n"}))
    server.create("v312", "python3.12", handler="app.handler", zip_bytes=zip_dir(None, {
        "app.py": b"import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n"}))
    assert server.invoke("v311", {}).json() == [3, 11]
    assert server.invoke("v312", {}).json() == [3, 11]  # the operator's declared alias
    starts = lambda name: [e["line"] for e in server.logs(function=name) if e["line"].startswith("INIT_START")]
    line = wait_until(lambda: starts("v311"), what="an INIT_START line")[0]
    assert line.startswith("INIT_START Runtime Version: python:3.11.") and "alias" not in line, line
    line = wait_until(lambda: starts("v312"), what="an INIT_START line")[0]
    assert "python:3.11." in line and "python3.12 runs on python3.11" in line, line
    # A runtime the node lacks, or one Lambda never had, is refused, never substituted.
    c = server.client()
    missing = [r for r, v in listed.items() if v["version"] is None and r.startswith("nodejs")]
    assert missing, listed
    for runtime, words in ((missing[0], "is not available on this node"), ("python3.7", "not a Lambda runtime id")):
        with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
            c.create_function(FunctionName="no", Runtime=runtime, Handler="app.handler",
                              Role="arn:aws:iam::000000000000:role/x",
                              Code={"ZipFile": zip_dir(None, {"app.py": b""})})
        assert words in str(e.value) and "--runtime" in str(e.value) or runtime == "python3.7", str(e.value)
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.update_function_configuration(FunctionName="v311", Runtime=missing[0])
    assert c.get_function_configuration(FunctionName="v311")["Runtime"] == "python3.11"
