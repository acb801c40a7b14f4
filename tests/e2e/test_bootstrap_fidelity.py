"""ondol's own bootstraps against AWS's runtimes, where a handler can tell the difference.

Python: each function runs twice, under ondol's bootstrap and under AWS's own runtime
client (awslambdaric, started through ImageConfig as a customer would), and what the
handler sees and logs must be the same; the expectation comes from AWS's code, not from
our reading of it. Node: AWS's client (aws-lambda-nodejs-runtime-interface-client) is not
installable here without a native build, so its formats are asserted as written in its
source, cited beside each assertion.
"""
import json
import re
import sys
from pathlib import Path

import pytest

from conftest import wait_until, zip_dir

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
RID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PLATFORM = ("START", "END", "REPORT", "INIT", "ONDOL_")
RIC = {"EntryPoint": ["python3", "-m", "awslambdaric"], "Command": ["app.handler"]}

PY_APP = b'''
import logging
import os

# A no-op on Lambda: the runtime gave the root logger its handler before this import.
logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
if os.environ.get("ROOT_INFO"):
    logging.getLogger().setLevel(logging.INFO)
logging.getLogger().warning("warning at import")

FIELDS = ["aws_request_id", "function_name", "function_version", "memory_limit_in_mb",
          "invoked_function_arn", "log_group_name", "log_stream_name", "client_context",
          "identity"]

def handler(event, context):
    log = logging.getLogger("app")
    log.debug("debug %s", "line")
    log.info("info %s", "line")
    log.warning("warning line")
    log.error({"a": 1})
    log.info("with extra", extra={"order": 7})
    if event.get("exc"):
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("it failed")
    return {
        "types": {f: type(getattr(context, f)).__name__ for f in FIELDS},
        "remaining": type(context.get_remaining_time_in_millis()).__name__,
        "memory": context.memory_limit_in_mb,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "handlers": len(logging.getLogger().handlers),
        "root_level": logging.getLogger().level,
        "repr": repr(context).split("[", 1)[0],
    }
'''


@pytest.fixture(scope="module")
def ric_files():
    """awslambdaric and its one dependency, copied from this interpreter's site-packages
    into the function's zip, as a customer would ship them (the host's are not the function's)."""
    site = Path(__import__("awslambdaric").__file__).parent.parent
    files = {}
    for pkg in ("awslambdaric", "simplejson"):
        for p in (site / pkg).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts:
                files[str(p.relative_to(site))] = p.read_bytes()
    for p in site.glob("runtime_client*.so"):  # its C client of the Runtime API
        files[p.name] = p.read_bytes()
    return files


def function_lines(server, name, request_id=None):
    """The function's own log lines (platform lines left out): an invocation's once its
    REPORT is stored, else the whole function's once its INIT_REPORT is."""
    if request_id:
        entries = server.request_log(request_id)
    else:
        entries = wait_until(lambda: (lambda es: es if any(l.startswith("INIT_REPORT") for l in es)
                                      else None)([e["line"] for e in server.logs(function=name)]),
                             what=f"the INIT_REPORT of {name}")
    return [line for line in entries if not line.startswith(PLATFORM)]


def normalize(line):
    """Times and request ids replaced, so lines from two functions compare."""
    line = re.sub(RID, "RID", line)
    line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", "TS", line)
    return re.sub(r'File \\?"[^"\\]*/([^/"\\]+)\\?"', r'File "\1"', line)


def run_both(server, ric_files, name, app, env=None, payload=None, init_fails=False):
    """Invokes `app` under ondol's bootstrap and under awslambdaric; returns both."""
    out = {}
    for kind, extra, image in (("ondol", {}, None), ("aws", ric_files, RIC)):
        fn = f"{name}-{kind}"
        server.create(fn, "python3.11", zip_bytes=zip_dir(None, {"app.py": app, **extra}),
                      env=env, memory=256, timeout=10, image_config=image)
        r = server.invoke(fn, payload or {})
        rid = None if init_fails else r.headers["x-amzn-RequestId"]
        out[kind] = (r, function_lines(server, fn, rid))
    return out


def test_python_context_and_text_logging_match_awslambdaric(server, ric_files):
    both = run_both(server, ric_files, "ctx", PY_APP, env={"ROOT_INFO": "1"})
    (mine, my_lines), (aws, aws_lines) = both["ondol"], both["aws"]
    assert mine.status_code == 200 and "X-Amz-Function-Error" not in mine.headers, mine.text
    assert aws.status_code == 200 and "X-Amz-Function-Error" not in aws.headers, aws.text
    assert mine.json() == aws.json()
    # awslambdaric/lambda_context.py: memory_limit_in_mb is os.environ's string.
    assert mine.json()["memory"] == "256"
    assert mine.json()["types"]["memory_limit_in_mb"] == "str"
    assert mine.json()["remaining"] == "int"
    assert mine.json()["handlers"] == 1, "basicConfig was a no-op"
    # awslambdaric/bootstrap.py _setup_logging: "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t
    # %(aws_request_id)s\t%(message)s\n", UTC.
    rid = mine.headers["x-amzn-RequestId"]
    assert f"[INFO]\t" in "\n".join(my_lines)
    for line in my_lines:
        assert re.fullmatch(rf"\[(INFO|WARNING|ERROR)\]\t{TS}\t{rid}\t.+", line), line
    assert [normalize(l) for l in my_lines] == [normalize(l) for l in aws_lines]
    # The import-time line carries no request id, exactly as under awslambdaric.
    init = [l for l in server.logs(function="ctx-ondol") if "warning at import" in l["line"]]
    assert re.fullmatch(rf"\[WARNING\]\t{TS}\t\twarning at import", init[0]["line"]), init


def test_python_logging_lines_are_found_by_request_id(server):
    server.create("rid", "python3.11", zip_bytes=zip_dir(None, {"app.py": PY_APP}),
                  env={"ROOT_INFO": "1"})
    r = server.invoke("rid", {})
    rid = r.headers["x-amzn-RequestId"]
    server.request_log(rid)
    out = server.cli("logs", "rid", "--request-id", rid).stdout
    assert re.search(rf"\[INFO\]\t{TS}\t{rid}\tinfo line", out), out
    assert re.search(rf"\[WARNING\]\t{TS}\t{rid}\twarning line", out), out


def test_python_default_level_and_log_level_control_match_awslambdaric(server, ric_files):
    # Without ROOT_INFO the root logger stays at WARNING (awslambdaric sets a level only
    # from AWS_LAMBDA_LOG_LEVEL); with AWS_LAMBDA_LOG_LEVEL=DEBUG debug lines appear.
    plain = run_both(server, ric_files, "lvl", PY_APP)
    debug = run_both(server, ric_files, "dbg", PY_APP, env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    for both in (plain, debug):
        mine, aws = [[normalize(l) for l in both[k][1]] for k in ("ondol", "aws")]
        assert mine == aws
    assert not any("info line" in l for l in plain["ondol"][1])
    assert any("warning line" in l for l in plain["ondol"][1])
    assert any(l.startswith("[DEBUG]\t") and "debug line" in l for l in debug["ondol"][1])
    assert plain["ondol"][0].json()["root_level"] == 30
    assert debug["ondol"][0].json()["root_level"] == 10


def test_python_json_log_format_matches_awslambdaric(server, ric_files):
    both = run_both(server, ric_files, "json", PY_APP,
                    env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"},
                    payload={"exc": 1})
    mine, aws = [[json.loads(l) for l in both[k][1]] for k in ("ondol", "aws")]
    rid = both["ondol"][0].headers["x-amzn-RequestId"]
    # awslambdaric/lambda_runtime_log_utils.py JsonFormatter: timestamp without
    # milliseconds, level, message (a dict stays a dict), logger, requestId, extras,
    # and for exceptions errorType/errorMessage/stackTrace/location.
    info = next(r for r in mine if r["message"] == "info line")
    assert info == {"timestamp": info["timestamp"], "level": "INFO", "message": "info line",
                    "logger": "app", "requestId": rid}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["timestamp"])
    assert any(r["message"] == {"a": 1} for r in mine)
    assert any(r.get("order") == 7 for r in mine)
    failed = next(r for r in mine if r["message"] == "it failed")
    assert failed["errorType"] == "ZeroDivisionError" and re.search(r"app\.py:handler:\d+$", failed["location"])

    def strip(rec):
        rec = {k: v for k, v in rec.items() if k not in ("timestamp", "requestId", "location")}
        if "stackTrace" in rec:
            rec["stackTrace"] = [normalize(f) for f in rec["stackTrace"]]
        return rec
    assert [strip(r) for r in mine] == [strip(r) for r in aws]


IMPORT_CASES = {
    "missing": b"import nosuchmodule_for_fidelity\n",
    "raises": b"import os\nraise ValueError('bad config ' + 'value')\n",
    "syntax": b"def handler(event, context):\n    return (\n",
    "nohandler": b"def other(event, context):\n    return 1\n",
}


@pytest.mark.parametrize("case", sorted(IMPORT_CASES))
def test_python_init_errors_match_awslambdaric(server, ric_files, case):
    both = run_both(server, ric_files, f"init-{case}", IMPORT_CASES[case], init_fails=True)
    (mine, my_lines), (aws, aws_lines) = both["ondol"], both["aws"]
    got, want = mine.json(), aws.json()
    assert mine.headers.get("X-Amz-Function-Error") == "Unhandled", mine.text
    assert got["errorType"] == want["errorType"] and got["errorMessage"] == want["errorMessage"], (got, want)
    expected_type = {"missing": "Runtime.ImportModuleError", "raises": "ValueError",
                     "syntax": "Runtime.UserCodeSyntaxError", "nohandler": "Runtime.HandlerNotFound"}
    assert got["errorType"] == expected_type[case]
    my_trace = [normalize(f) for f in got.get("stackTrace", [])]
    aws_trace = [normalize(f) for f in want.get("stackTrace", [])]
    my_log, aws_log = [normalize(l) for l in my_lines], [normalize(l) for l in aws_lines]
    if case == "raises":
        # awslambdaric imports through importlib.import_module, one frame more than
        # ondol's direct importlib call (the importlib package costs a cold start 0.7 ms).
        assert aws_trace[0].startswith('  File "__init__.py"') and my_trace == aws_trace[1:]
        assert my_log[0] == aws_log[0]
        assert my_log[1].split("\r")[:2] == aws_log[1].split("\r")[:2] == [
            "[ERROR] ValueError: bad config value", "Traceback (most recent call last):"]
        return
    assert my_trace == aws_trace
    # awslambdaric/bootstrap.py run(): a LAMBDA_WARNING record, then log_error's line.
    assert my_log == aws_log, (my_log, aws_log)
    # (its trailing \r is dropped by the log store, which strips a line's final \r)
    assert re.fullmatch(r"\[WARNING\]\tTS\t\tLAMBDA_WARNING: Unhandled exception\..*runtimes-update\.html", my_log[0])
    assert my_log[1].startswith(f"[ERROR] {expected_type[case]}: ")
    assert "\rTraceback (most recent call last):" in my_log[1]


def test_python_invoke_error_log_matches_awslambdaric(server, ric_files):
    app = b"def handler(event, context):\n    helper()\n\ndef helper():\n    raise KeyError('k')\n"
    both = run_both(server, ric_files, "inverr", app)
    (mine, my_lines), (aws, aws_lines) = both["ondol"], both["aws"]
    got, want = mine.json(), aws.json()
    assert got["errorType"] == "KeyError" and got["requestId"] == mine.headers["x-amzn-RequestId"]
    assert {**got, "requestId": "", "stackTrace": []} == {**want, "requestId": "", "stackTrace": []}
    assert [normalize(f) for f in got["stackTrace"]] == [normalize(f) for f in want["stackTrace"]]
    # awslambdaric/bootstrap.py log_error: \r between lines, indentation as U+00A0.
    assert [normalize(l) for l in my_lines] == [normalize(l) for l in aws_lines]
    assert "\r\u00a0\u00a0File" in my_lines[0]


NODE_APP = b"""
console.log('at init');
exports.handler = async (event, context) => {
  console.log('hello %s', 'world');
  console.info('two\\nlines');
  console.debug('debug line');
  console.warn('warn line');
  console.error(new Error('logged error'));
  context.callbackWaitsForEmptyEventLoop = false;
  if (event.fail) throw new TypeError('bad thing');
  return {
    memory: context.memoryLimitInMB,
    types: Object.fromEntries(Object.entries(context).map(([k, v]) => [k, typeof v])),
    remaining: Number.isInteger(context.getRemainingTimeInMillis()),
    waits: context.callbackWaitsForEmptyEventLoop,
    keys: Object.keys(context),
    json: JSON.parse(JSON.stringify(context)),
  };
};
"""


def test_node_context_and_text_logging(server):
    server.create("nd", "nodejs20.x", handler="index.handler", memory=256,
                  zip_bytes=zip_dir(None, {"index.js": NODE_APP}), env={"AWS_LAMBDA_LOG_LEVEL": "INFO"})
    r = server.invoke("nd", {})
    body, rid = r.json(), r.headers["x-amzn-RequestId"]
    # src/InvokeContext.js _environmentalData: memoryLimitInMB is the environment's string;
    # src/CallbackContext.js: callbackWaitsForEmptyEventLoop is a settable property.
    assert body["memory"] == "256" and body["types"]["memoryLimitInMB"] == "string"
    assert body["waits"] is False and body["remaining"] is True
    # Object.assign(callbackContext, environmental, header data): AWS's key order.
    assert body["keys"] == ["callbackWaitsForEmptyEventLoop", "succeed", "fail", "done",
                            "functionVersion", "functionName", "memoryLimitInMB", "logGroupName",
                            "logStreamName", "clientContext", "identity", "invokedFunctionArn",
                            "awsRequestId", "tenantId", "getRemainingTimeInMillis"], body["keys"]
    assert body["json"]["functionVersion"] == "$LATEST" and body["json"]["awsRequestId"] == rid
    lines = function_lines(server, "nd", rid)
    # src/LogPatch.js logTextToStdout: `${time}\t${requestId}\t${level}\t${message}`, \n -> \r,
    # and AWS_LAMBDA_LOG_LEVEL=INFO silences console.debug.
    assert re.fullmatch(rf"{TS}\t{rid}\tINFO\thello world", lines[0]), lines
    assert re.fullmatch(rf"{TS}\t{rid}\tINFO\ttwo\rlines", lines[1]), lines
    assert re.fullmatch(rf"{TS}\t{rid}\tWARN\twarn line", lines[2]), lines
    assert re.fullmatch(rf"{TS}\t{rid}\tERROR\tError: logged error\r    at .*", lines[3]), lines
    assert len(lines) == 4
    init = [e["line"] for e in server.logs(function="nd") if e["line"].endswith("at init")]
    assert re.fullmatch(rf"{TS}\tundefined\tINFO\tat init", init[0]), init
    out = server.cli("logs", "nd", "--request-id", rid).stdout
    assert f"\t{rid}\tINFO\thello world" in out, out


def test_node_json_format_and_invoke_error(server):
    server.create("nj", "nodejs20.x", handler="index.handler",
                  zip_bytes=zip_dir(None, {"index.js": NODE_APP}), env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    r = server.invoke("nj", {"fail": 1})
    rid = r.headers["x-amzn-RequestId"]
    assert r.json()["errorType"] == "TypeError" and r.json()["errorMessage"] == "bad thing"
    records = [json.loads(l) for l in function_lines(server, "nj", rid)]
    # src/LogPatch.js formatJsonMessage: {timestamp, level, requestId, message}; an Error
    # alone becomes {errorType, errorMessage, stackTrace} as the message.
    hello = records[0]
    assert hello == {"timestamp": hello["timestamp"], "level": "INFO", "requestId": rid,
                     "message": "hello world"}
    assert re.fullmatch(TS, hello["timestamp"])
    assert [r["level"] for r in records[:5]] == ["INFO", "INFO", "DEBUG", "WARN", "ERROR"]
    assert records[4]["message"]["errorType"] == "Error"
    assert records[4]["message"]["errorMessage"] == "logged error"
    # The invoke error: structuredConsole.logError in JSON logs the error itself.
    last = records[-1]
    assert last["level"] == "ERROR" and last["message"]["errorType"] == "TypeError", last
    assert last["message"]["errorMessage"] == "bad thing"


def test_node_init_error_is_logged_as_aws_does(server):
    server.create("nm", "nodejs20.x", handler="index.handler",
                  zip_bytes=zip_dir(None, {"index.js": b"require('nosuchmodule_for_fidelity');\n"}))
    r = server.invoke("nm", {})
    body = r.json()
    assert body["errorType"] == "Runtime.ImportModuleError", body
    assert body["errorMessage"].startswith("Error: Cannot find module 'nosuchmodule_for_fidelity'")
    line = wait_until(lambda: next((e["line"] for e in server.logs(function="nm")
                                    if "Uncaught Exception" in e["line"]), None))
    # src/index.mjs: the failed load surfaces as an uncaught exception, logged by
    # structuredConsole.logError ("Uncaught Exception" + toFormatted's "\t{...}").
    m = re.fullmatch(rf"{TS}\tundefined\tERROR\tUncaught Exception \t(\{{.*\}})", line)
    assert m, line
    logged = json.loads(m.group(1))
    assert logged["errorType"] == "Runtime.ImportModuleError"
    assert logged["stack"][0].startswith("Runtime.ImportModuleError: Error: Cannot find module")
