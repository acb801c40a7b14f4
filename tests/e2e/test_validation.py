"""Configuration that can never work is refused where it comes in: the Lambda API
answers AWS's 400s naming the field, `ondol deploy` names the file and the key,
the app endpoints check what any client sends, and a deploy whose new version
does not start leaves `$LATEST` as it was."""
import base64

import botocore.exceptions
import pytest
import requests

from conftest import FUNCTIONS, zip_dir

HELLO = '''
import os

def handler(event, context):
    return {"statusCode": 200, "body": os.environ.get("GREETING", "")}
'''

MANIFEST = '''app = "val"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"
environment = { GREETING = "hello" }

[[routes]]
route = "GET /hello"
function = "hello"
'''


def app_dir(tmp_path, manifest=MANIFEST, name="val"):
    app = tmp_path / name
    (app / "hello").mkdir(parents=True)
    (app / "hello" / "app.py").write_text(HELLO)
    (app / "ondol.toml").write_text(manifest)
    return app


def refused(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kwargs)
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, err
    return err["Code"], err["Message"]


BAD_ENVS = [
    ({"A=B": "1"}, "environment.variables"),
    ({"": "1"}, "environment.variables"),
    ({"KÉY": "1"}, "environment.variables"),
    ({"1ABC": "1"}, "environment.variables"),
    ({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1"},
     "contains reserved keys that are currently not supported for modification. "
     "Reserved keys used in this request: AWS_LAMBDA_RUNTIME_API"),
    ({"_HANDLER": "x", "OK": "1"}, "Reserved keys used in this request: _HANDLER"),
    ({"LAMBDA_TASK_ROOT": "/"}, "Reserved keys used in this request: LAMBDA_TASK_ROOT"),
    ({"K": "a\x00b"}, "Environment.Variables.K"),
    ({"BIG": "x" * 4100}, "exceeded the 4KB limit"),
]


def test_bad_environments_are_refused_by_create_and_update(server):
    c = server.client()
    code = {"ZipFile": zip_dir(FUNCTIONS / "py_hello")}
    for env, named in BAD_ENVS:
        kind, msg = refused(c.create_function, FunctionName="envbad", Runtime="python3.11",
                            Handler="app.handler", Role="arn:aws:iam::000000000000:role/x",
                            Code=code, Environment={"Variables": env})
        assert kind == "InvalidParameterValueException" and named in msg, (env, msg)
    assert c.list_functions()["Functions"] == [], "nothing was created"

    c.create_function(FunctionName="envok", Runtime="python3.11", Handler="app.handler",
                      Role="arn:aws:iam::000000000000:role/x", Code=code,
                      Environment={"Variables": {"GREETING": "hi"}})
    before = c.get_function_configuration(FunctionName="envok")
    for env, named in BAD_ENVS:
        kind, msg = refused(c.update_function_configuration, FunctionName="envok",
                            Environment={"Variables": env})
        assert kind == "InvalidParameterValueException" and named in msg, (env, msg)
    after = c.get_function_configuration(FunctionName="envok")
    assert after["Environment"] == before["Environment"]
    assert after["RevisionId"] == before["RevisionId"], "a refused update changes nothing"
    assert c.invoke(FunctionName="envok", Payload=b"{}")["StatusCode"] == 200
    # Exactly 4 KB measured as compact JSON is still fine: {"BIG":"…"} is 10 bytes.
    c.update_function_configuration(FunctionName="envok",
                                    Environment={"Variables": {"BIG": "x" * 4086}})


def test_zero_limits_and_control_characters_are_refused(server):
    base = {"FunctionName": "lim", "Runtime": "python3.11", "Handler": "app.handler",
            "Role": "arn:aws:iam::000000000000:role/x",
            "Code": {"ZipFile": base64.b64encode(zip_dir(FUNCTIONS / "py_hello")).decode()}}
    cases = [
        ({"Ondol": {"InitTimeoutMs": 0}}, "Ondol.InitTimeoutMs"),
        ({"Ondol": {"MaxRequestBytes": 0}}, "Ondol.MaxRequestBytes"),
        ({"Ondol": {"MaxResponseBytes": 0}}, "Ondol.MaxResponseBytes"),
        ({"Ondol": {"InitTimeoutMs": 2**64 - 1}}, "Ondol.InitTimeoutMs"),
        ({"Ondol": {"MaxRequestBytes": -1}}, "Ondol.MaxRequestBytes"),
        ({"Timeout": 10**15}, "Timeout"),
        ({"MemorySize": 2**40}, "MemorySize"),
        ({"Handler": "app.handler\n"}, "Handler"),
        ({"Runtime": "python3.11\u0000"}, "Runtime"),
        ({"Description": "d" * 257}, "Description"),
        ({"ImageConfig": {"EntryPoint": ["python3", "-c", "a\u0000b"]}}, "ImageConfig.EntryPoint"),
    ]
    api = f"{server.api}/2015-03-31/functions"
    for extra, named in cases:
        r = requests.post(api, json={**base, **extra}, timeout=30)
        assert r.status_code == 400, (extra, r.text)
        assert r.headers["x-amzn-ErrorType"] == "InvalidParameterValueException", r.headers
        assert named in r.json()["message"], (extra, r.text)
    assert requests.get(api, timeout=10).json()["Functions"] == []


BAD_MANIFESTS = [
    ('GREETING = "hello"', '"A=B" = "1"', "functions.hello.environment: 1 validation error"),
    ('GREETING = "hello"', 'AWS_LAMBDA_RUNTIME_API = "x"',
     "functions.hello.environment: Lambda was unable to configure your environment variables"),
    ('GREETING = "hello"', 'GREETING = "a\\u0000b"', "functions.hello.environment: "),
    ('code = "hello"', 'code = "hello"\nmax_request_bytes = "0"', "functions.hello.max_request_bytes: "),
    ('code = "hello"', 'code = "hello"\nmax_response_bytes = 0', "functions.hello.max_response_bytes: "),
    ('code = "hello"', 'code = "hello"\ninit_timeout = "0s"', "functions.hello.init_timeout: "),
    ('function = "hello"', 'function = "hello"\nhost = ""', "routes[0].host: expected a host name"),
    ('function = "hello"', 'function = "hello"\nhost = "not a host!"', "routes[0].host: expected a host name"),
    ('GET /hello', 'GET /a?x=1', "routes[0].route: expected a path without a query"),
    ('GET /hello', 'GET /{x}/{x}', "routes[0].route: parameter {x} appears twice"),
    ('GET /hello', 'GET /a\\tb', "routes[0].route: "),
    ('function = "hello"\n', 'function = "hello"\n[http]\nmax_request_body = 0\n',
     "http.max_request_body: expected a size above 0"),
    ('function = "hello"\n', 'function = "hello"\n[stages.prod]\nhosts = ["not a host!"]\n',
     "stages.prod.hosts: expected a host name"),
    ('function = "hello"\n', 'function = "hello"\n[[routes]]\nroute = "get /hello"\nfunction = "hello"\n',
     'routes[1].route: "get /hello" is defined twice'),
]


def schedule(expression, timezone="UTC"):
    return (f'function = "hello"\n',
            f'function = "hello"\n[[schedules]]\nname = "s"\nfunction = "hello"\n'
            f'expression = "{expression}"\ntimezone = "{timezone}"\n')


# Checked by the server (the CLI sends them to /check before anything changes).
SERVER_CHECKED = [
    (*schedule("cron(0 0 31 2 ? *)"), "schedules[0].expression: day-of-month: no date matches"),
    (*schedule("cron(0 0 1 1 ? 2020)"), "schedules[0].expression: year: every year given is in the past"),
    (*schedule("cron(1,,2 * * * ? *)"), "schedules[0].expression: minutes: \"1,,2\" has an empty list item"),
    (*schedule("rate(9223372036854775807 days)"), "schedules[0].expression: rate:"),
    (*schedule("rate(1 day)", "Mars/Olympus_Mons"), "schedules[0].timezone: "),
]


def test_deploy_refuses_manifests_that_can_never_work(server, tmp_path):
    app = app_dir(tmp_path)
    toml = app / "ondol.toml"
    for old, new, key in BAD_MANIFESTS + SERVER_CHECKED:
        assert old in MANIFEST, old
        toml.write_text(MANIFEST.replace(old, new, 1))
        r = server.cli("deploy", str(app), check=False)
        assert r.returncode != 0, (new, r.stdout)
        assert f"{toml}: {key}" in r.stderr, (new, r.stderr)
        if (old, new, key) in BAD_MANIFESTS:
            assert "(line " in r.stderr, (new, r.stderr)
    toml.write_text(MANIFEST.replace("GET /hello", "GET /a?x=1"))
    r = server.cli("deploy", str(app), check=False)
    assert "routes[0].route: expected a path without a query" in r.stderr
    assert "(line 10)" in r.stderr, r.stderr
    assert server.client().list_functions()["Functions"] == [], "nothing was deployed"
    toml.write_text(MANIFEST)
    server.cli("deploy", str(app))
    assert requests.get(server.http + "/hello", timeout=10).text == "hello"


def test_a_clash_found_by_the_server_names_the_file_and_route(server, tmp_path):
    server.cli("deploy", str(app_dir(tmp_path)))
    other = app_dir(tmp_path, MANIFEST.replace('app = "val"', 'app = "other"').replace(
        'route = "GET /hello"', 'route = "GET /other"\nfunction = "hello"\n\n[[routes]]\nroute = "GET /hello"'),
        name="other")
    r = server.cli("deploy", str(other), check=False)
    assert r.returncode != 0
    assert f"{other / 'ondol.toml'}: routes[1].route: app other: route \"GET /hello\" clashes" in r.stderr, r.stderr
    names = [f["FunctionName"] for f in server.client().list_functions()["Functions"]]
    assert names == ["val-hello"], "the refused app created nothing"


def test_app_endpoints_check_what_any_client_sends(server):
    def route(key, method, path, **kw):
        return {"key": key, "method": method, "path": path, "host": None, "function": "f",
                "payload": "V2", "timeout_ms": None, "rate_limit": None, **kw}

    def app(**kw):
        return {"app": "raw", "routes": [route("GET /a", "GET", "/a")], "cors": None,
                "max_request_body": 1024, **kw}

    cases = [
        (app(routes=[route("GET /a?x=1", "GET", "/a?x=1")]), "routes[0].route: expected a path without a query"),
        (app(routes=[route("GET /a", "GET", "/b")]), "routes[0].route: method and path do not match"),
        (app(routes=[route("GET /{x}/{x}", "GET", "/{x}/{x}")]), "routes[0].route: parameter {x} appears twice"),
        (app(routes=[route("GET /a", "GET", "/a", host="evil\r\nhost")]), "routes[0].host: "),
        (app(routes=[route("GET /a", "GET", "/a", rate_limit={"rps": -1, "burst": 1})]), "routes[0].rate_limit.rps"),
        (app(routes=[route("GET /a", "GET", "/a", timeout_ms=0)]), "routes[0].timeout"),
        (app(max_request_body=0), "http.max_request_body"),
        (app(stage="prod", hosts=["not a host!"]), "stages.prod.hosts: "),
        (app(hosts=["a.example.com"]), "stages.$default.hosts: "),
        (app(cors={"allow_origins": ["https://a\r\nSet-Cookie: x=1"]}), "http.cors.allow_origins[0]: "),
        (app(schedules=[{"name": "s", "function": "f", "expression": "cron(0 0 30 2 ? *)",
                         "timezone": "UTC", "input": None, "catch_up": "none", "overlap": "allow"}]),
         "schedules[0].expression: day-of-month"),
        (app(schedules=[{"name": "s", "function": "f", "expression": "rate(1 day)",
                         "timezone": "UTC", "input": None, "catch_up": "everything", "overlap": "allow"}]),
         "schedules[0].catch_up: "),
        (app(schedules=[{"name": "a b", "function": "f", "expression": "rate(1 day)",
                         "timezone": "UTC", "input": None, "catch_up": "none", "overlap": "allow"}]),
         "schedules[0].name: "),
    ]
    for body, key in cases:
        for method, path in (("POST", "/ondol/v1/apps/raw/check"), ("PUT", "/ondol/v1/apps/raw")):
            r = requests.request(method, server.api + path, json=body, timeout=10)
            assert r.status_code == 400, (path, body, r.text)
            assert r.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
            assert r.json()["message"].startswith(key), (path, r.text)
    assert requests.get(server.api + "/ondol/v1/apps", timeout=10).json()["apps"] == []


def test_a_version_that_fails_to_start_leaves_latest_as_it_was(server, tmp_path):
    app = app_dir(tmp_path)
    server.cli("deploy", str(app))
    c = server.client()
    before = c.get_function(FunctionName="val-hello")["Configuration"]

    (app / "hello" / "app.py").write_text("raise RuntimeError('broken at import')\n" + HELLO)
    toml = app / "ondol.toml"
    toml.write_text(MANIFEST.replace('GREETING = "hello"', 'GREETING = "broken"').replace(
        'code = "hello"', 'code = "hello"\nmemory_mb = 256'))
    r = server.cli("deploy", str(app), check=False)
    assert r.returncode != 0
    assert "broken at import" in r.stderr, r.stderr
    assert "$LATEST of val-hello is back as it was before this deploy" in r.stderr, r.stderr

    after = c.get_function(FunctionName="val-hello")["Configuration"]
    for field in ("CodeSha256", "Environment", "MemorySize", "Handler", "Runtime"):
        assert after[field] == before[field], field
    # $LATEST runs the old code and configuration; the old version keeps serving.
    out = c.invoke(FunctionName="val-hello", Payload=b"{}")
    assert "FunctionError" not in out, out["Payload"].read()
    assert b"hello" in out["Payload"].read()
    assert requests.get(server.http + "/hello", timeout=10).text == "hello"
    # The next deploy of the fixed app goes through.
    (app / "hello" / "app.py").write_text(HELLO)
    server.cli("deploy", str(app))
    assert requests.get(server.http + "/hello", timeout=10).text == "broken"
