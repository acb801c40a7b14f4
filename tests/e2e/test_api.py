"""The Lambda management API through boto3 and the aws CLI, as users script it."""
import base64
import datetime
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import botocore.auth
import pytest
from botocore.exceptions import ClientError
import requests

from conftest import AWS, FUNCTIONS, wait_until, zip_dir

ZIP = zip_dir(FUNCTIONS / "py_hello")
ROLE = "arn:aws:iam::000000000000:role/test"


def create(c, name, **kw):
    args = dict(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": ZIP})
    args.update(kw)
    return c.create_function(**args)


def payload(r):
    return json.loads(r["Payload"].read())


def test_publish_versions_are_immutable_snapshots(server):
    c = server.client()
    create(c, "ver", Environment={"Variables": {"STAGE": "one"}})
    v1 = c.publish_version(FunctionName="ver", Description="first")
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(":function:ver:1")
    assert c.publish_version(FunctionName="ver")["Version"] == "1", "unchanged → the existing version"
    c.update_function_configuration(FunctionName="ver", Environment={"Variables": {"STAGE": "two"}})
    v2 = c.publish_version(FunctionName="ver")
    assert v2["Version"] == "2"
    assert payload(c.invoke(FunctionName="ver", Qualifier="1"))["env"]["STAGE"] == "one"
    assert payload(c.invoke(FunctionName="ver:2"))["env"]["STAGE"] == "two"
    r = c.invoke(FunctionName="ver", Qualifier="2")
    assert r["ExecutedVersion"] == "2"
    assert payload(c.invoke(FunctionName="ver"))["function_version"] == "$LATEST"
    assert payload(c.invoke(FunctionName="ver", Qualifier="1"))["function_version"] == "1"
    assert c.get_function(FunctionName="ver", Qualifier="1")["Configuration"]["Environment"]["Variables"] == {"STAGE": "one"}
    assert c.get_function_configuration(FunctionName="ver:2")["Version"] == "2"
    versions = [v["Version"] for v in c.list_versions_by_function(FunctionName="ver")["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    pages = c.get_paginator("list_versions_by_function").paginate(FunctionName="ver", PaginationConfig={"PageSize": 1})
    assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2"]
    c.delete_function(FunctionName="ver", Qualifier="1")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.invoke(FunctionName="ver", Qualifier="1")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.invoke(FunctionName="ver", Qualifier="7")
    assert c.publish_version(FunctionName="ver")["Version"] == "2", "still unchanged since 2"


def test_create_and_update_code_with_publish(server):
    c = server.client()
    created = create(c, "pub", Publish=True)
    assert created["Version"] == "1"
    z2 = zip_dir(FUNCTIONS / "py_hello", {"extra.txt": b"x"})
    dry = c.update_function_code(FunctionName="pub", ZipFile=z2, DryRun=True)
    assert c.get_function(FunctionName="pub")["Configuration"]["CodeSha256"] != dry["CodeSha256"]
    upd = c.update_function_code(FunctionName="pub", ZipFile=z2, Publish=True)
    assert upd["Version"] == "2"
    c.get_waiter("function_updated_v2").wait(FunctionName="pub")
    c.get_waiter("function_active_v2").wait(FunctionName="pub")


def test_weighted_alias_splits_traffic_and_reports_the_version(server):
    c = server.client()
    create(c, "canary", Environment={"Variables": {"V": "a"}})
    c.publish_version(FunctionName="canary")
    c.update_function_configuration(FunctionName="canary", Environment={"Variables": {"V": "b"}})
    c.publish_version(FunctionName="canary")
    alias = c.create_alias(FunctionName="canary", Name="live", FunctionVersion="1",
                           RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
    assert alias["AliasArn"].endswith(":function:canary:live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.2}
    raw = lambda _: requests.post(f"{server.api}/2015-03-31/functions/canary/invocations?Qualifier=live", data=b"{}")
    with ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(raw, range(1000)))
    executed = [r.headers["X-Amz-Executed-Version"] for r in rs]
    stages = [r.json()["env"]["V"] for r in rs]
    assert all(s == ("a" if v == "1" else "b") for s, v in zip(stages, executed)), "the header names the version that ran"
    share = executed.count("2") / 1000
    assert 0.143 <= share <= 0.257, f"weight 0.2 gave {share}"  # ±4.5 standard deviations
    r = c.invoke(FunctionName="canary", Qualifier="live")
    assert r["ExecutedVersion"] in ("1", "2")


def test_alias_crud_and_errors(server):
    c = server.client()
    create(c, "al")
    c.publish_version(FunctionName="al")
    a = c.create_alias(FunctionName="al", Name="prod", FunctionVersion="1", Description="d")
    assert c.get_alias(FunctionName="al", Name="prod")["FunctionVersion"] == "1"
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.create_alias(FunctionName="al", Name="prod", FunctionVersion="1")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.create_alias(FunctionName="al", Name="x", FunctionVersion="9")
    # AWS answers ValidationException (test_lambda_api.py::TestLambdaAlias::test_alias_naming).
    with pytest.raises(ClientError) as e:
        c.create_alias(FunctionName="al", Name="123", FunctionVersion="1")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(c.exceptions.PreconditionFailedException):
        c.update_alias(FunctionName="al", Name="prod", Description="new", RevisionId="stale")
    u = c.update_alias(FunctionName="al", Name="prod", FunctionVersion="$LATEST", RevisionId=a["RevisionId"])
    assert u["FunctionVersion"] == "$LATEST"
    assert payload(c.invoke(FunctionName="al:prod"))["invoked_function_arn"].endswith(":function:al:prod")
    c.create_alias(FunctionName="al", Name="beta", FunctionVersion="1")
    names = [x["Name"] for x in c.list_aliases(FunctionName="al")["Aliases"]]
    assert names == ["beta", "prod"]
    assert [x["Name"] for x in c.list_aliases(FunctionName="al", FunctionVersion="1")["Aliases"]] == ["beta"]
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.delete_function(FunctionName="al", Qualifier="1")
    c.delete_alias(FunctionName="al", Name="beta")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_alias(FunctionName="al", Name="beta")
    c.delete_function(FunctionName="al", Qualifier="1")


def test_qualifier_forms_and_conflicts(server):
    c = server.client()
    create(c, "q")
    c.publish_version(FunctionName="q")
    c.create_alias(FunctionName="q", Name="live", FunctionVersion="1")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:q"
    for fn, q in [(arn, "live"), (f"{arn}:live", None), ("000000000000:function:q:1", None), ("q:$LATEST", None)]:
        kw = {"Qualifier": q} if q else {}
        r = c.invoke(FunctionName=fn, **kw)
        assert r["StatusCode"] == 200 and "FunctionError" not in r, fn
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.invoke(FunctionName=f"{arn}:live", Qualifier="1")
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.get_function(FunctionName="q:1", Qualifier="live")


def test_reserved_concurrency(server):
    c = server.client(retries=1)
    create(c, "rc")
    assert c.get_function_concurrency(FunctionName="rc").get("ReservedConcurrentExecutions") is None
    assert c.put_function_concurrency(FunctionName="rc", ReservedConcurrentExecutions=0)["ReservedConcurrentExecutions"] == 0
    assert c.get_function(FunctionName="rc")["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    with pytest.raises(c.exceptions.TooManyRequestsException) as e:
        c.invoke(FunctionName="rc")
    assert e.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    c.put_function_concurrency(FunctionName="rc", ReservedConcurrentExecutions=1)
    with ThreadPoolExecutor(2) as ex:
        pids = set(ex.map(lambda _: payload(c.invoke(FunctionName="rc", Payload=json.dumps({"sleep": 0.3})))["instance"], range(2)))
    assert len(pids) == 1, "one instance at most: the second call queued for it"
    c.delete_function_concurrency(FunctionName="rc")
    assert "ReservedConcurrentExecutions" not in c.get_function_concurrency(FunctionName="rc")
    with ThreadPoolExecutor(2) as ex:
        pids = set(ex.map(lambda _: payload(c.invoke(FunctionName="rc", Payload=json.dumps({"sleep": 0.5})))["instance"], range(2)))
    assert len(pids) == 2


def test_provisioned_concurrency_goes_ready_with_warm_instances(server):
    c = server.client()
    create(c, "pc")
    c.publish_version(FunctionName="pc")
    c.create_alias(FunctionName="pc", Name="live", FunctionVersion="1")
    put = c.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    wait_until(lambda: c.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")["Status"] == "READY", timeout=15)
    got = c.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 2
    assert server.pool("pc", "1")["ready"] == 2
    r = c.invoke(FunctionName="pc", Qualifier="live", LogType="Tail")
    assert "Init Duration" not in base64.b64decode(r["LogResult"]).decode()
    assert payload(r)["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
    listed = c.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"]
    assert [x["FunctionArn"] for x in listed] == ["arn:aws:lambda:us-east-1:000000000000:function:pc:live"]
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    c.delete_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")
    with pytest.raises(c.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        c.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")


def test_account_settings_are_the_node_limits(make_server):
    server = make_server(args=["--memory-budget-mb", "1280", "--concurrency-limit", "10",
                               "--unreserved-min", "5"])
    c = server.client()
    create(c, "acct")
    s = c.get_account_settings()
    assert s["AccountLimit"]["ConcurrentExecutions"] == 10
    assert s["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
    assert s["AccountUsage"]["FunctionCount"] == 1
    assert s["AccountUsage"]["TotalCodeSize"] == len(ZIP)


def test_invoke_with_response_stream(server):
    c = server.client()
    create(c, "stream")
    r = c.invoke_with_response_stream(FunctionName="stream", Payload=b'{"s": 1}', LogType="Tail")
    assert r["ExecutedVersion"] == "$LATEST"
    events = list(r["EventStream"])
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    assert json.loads(chunks)["event"] == {"s": 1}
    done = [e["InvokeComplete"] for e in events if "InvokeComplete" in e][0]
    assert "REPORT RequestId" in base64.b64decode(done["LogResult"]).decode()
    err = list(c.invoke_with_response_stream(FunctionName="stream", Payload=b'{"raise": "x"}')["EventStream"])
    assert [e["InvokeComplete"] for e in err if "InvokeComplete" in e][0]["ErrorCode"] == "ValueError"


def test_function_url_configs(server):
    c = server.client()
    create(c, "url")
    created = c.create_function_url_config(FunctionName="url", AuthType="NONE", Cors={"AllowOrigins": ["*"]})
    assert created["FunctionUrl"].startswith("http://") and ".lambda-url.localhost:" in created["FunctionUrl"]
    assert c.get_function_url_config(FunctionName="url")["AuthType"] == "NONE"
    assert c.update_function_url_config(FunctionName="url", AuthType="AWS_IAM")["AuthType"] == "AWS_IAM"
    assert len(c.list_function_url_configs(FunctionName="url")["FunctionUrlConfigs"]) == 1
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.create_function_url_config(FunctionName="url", AuthType="NONE")
    c.delete_function_url_config(FunctionName="url")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function_url_config(FunctionName="url")


def test_pagination_over_more_than_50_functions(server):
    z = base64.b64encode(ZIP).decode()
    for i in range(57):
        requests.post(f"{server.api}/2015-03-31/functions", json={
            "FunctionName": f"p{i:02d}", "Runtime": "python3.11", "Handler": "app.handler",
            "Code": {"ZipFile": z}}).raise_for_status()
    c = server.client()
    first = c.list_functions()
    assert len(first["Functions"]) == 50 and "NextMarker" in first
    second = c.list_functions(Marker=first["NextMarker"])
    assert len(second["Functions"]) == 7 and "NextMarker" not in second
    names = [f["FunctionName"] for p in c.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert names == [f"p{i:02d}" for i in range(57)]


def test_bad_input_names_the_field_and_creates_nothing(server):
    c = server.client()
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "t", Timeout=100000)
    assert "Timeout" in str(e.value)
    # AWS: ValidationException quoting CreateFunction's pattern
    # (test_lambda_api.py::TestLambdaFunction::test_function_arns/invalid_function_name_exc).
    with pytest.raises(ClientError) as e:
        create(c, "bad.name")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "'functionName'" in str(e.value)
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "nz", Code={"ZipFile": b"PK\x03\x04 but not really"})
    assert "unzip" in str(e.value)
    big = os.urandom(51 * 1024 * 1024)
    r = requests.post(f"{server.api}/2015-03-31/functions", json={
        "FunctionName": "big", "Runtime": "python3.11", "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(big).decode()}})
    assert r.status_code == 413 and r.headers["x-amzn-ErrorType"] == "RequestTooLargeException"
    assert c.list_functions()["Functions"] == []


def aws(server, *args, env_extra=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y", AWS_DEFAULT_REGION="us-east-1", **(env_extra or {}))
    r = subprocess.run([*AWS, "lambda", "--endpoint-url", server.api, *args], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_aws_cli_versions_aliases_concurrency(server, tmp_path):
    z = tmp_path / "f.zip"
    z.write_bytes(ZIP)
    aws(server, "create-function", "--function-name", "cli", "--runtime", "python3.11", "--role", ROLE,
        "--handler", "app.handler", "--zip-file", f"fileb://{z}")
    aws(server, "wait", "function-active-v2", "--function-name", "cli")
    assert aws(server, "publish-version", "--function-name", "cli")["Version"] == "1"
    aws(server, "update-function-configuration", "--function-name", "cli", "--environment", "Variables={V=2}")
    assert aws(server, "publish-version", "--function-name", "cli")["Version"] == "2"
    assert aws(server, "create-alias", "--function-name", "cli", "--name", "live", "--function-version", "1")["FunctionVersion"] == "1"
    upd = aws(server, "update-alias", "--function-name", "cli", "--name", "live", "--function-version", "2")
    assert upd["FunctionVersion"] == "2"
    assert aws(server, "put-function-concurrency", "--function-name", "cli", "--reserved-concurrent-executions", "5") == {"ReservedConcurrentExecutions": 5}
    out = tmp_path / "out.json"
    res = aws(server, "invoke", "--function-name", "cli", "--qualifier", "live", "--payload", '{"a": 1}', str(out))
    assert res["ExecutedVersion"] == "2"
    assert json.loads(out.read_text())["env"]["V"] == "2"


# ---- SigV4 ----

def signed_server(make_server):
    return make_server(env={"ONDOL_ACCESS_KEY_ID": "AKIDONDOL", "ONDOL_SECRET_ACCESS_KEY": "s3cret/key+value"})


def client_with(server, key, secret):
    import boto3
    import botocore.config
    return boto3.client("lambda", endpoint_url=server.api, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def test_sigv4_signed_requests_pass(make_server):
    server = signed_server(make_server)
    c = client_with(server, "AKIDONDOL", "s3cret/key+value")
    create(c, "signed")
    c.publish_version(FunctionName="signed")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:signed"
    r = c.invoke(FunctionName=arn, Qualifier="1", Payload=b'{"x": 1}')
    assert payload(r)["event"] == {"x": 1}
    assert len(c.list_functions(MaxItems=5)["Functions"]) == 1
    env = {"AWS_ACCESS_KEY_ID": "AKIDONDOL", "AWS_SECRET_ACCESS_KEY": "s3cret/key+value"}
    r = subprocess.run([*AWS, "lambda", "--endpoint-url", server.api, "get-function", "--function-name", "signed"],
                       capture_output=True, text=True, env=dict(os.environ, AWS_DEFAULT_REGION="us-east-1", **env))
    assert r.returncode == 0, r.stderr
    cli = server.cli("invoke", "signed", "--payload", '{"via": "ondol-cli"}', check=False)
    assert cli.returncode != 0 and "Missing Authentication Token" in cli.stderr, \
        "the ondol CLI without credentials is refused"
    from conftest import BIN
    ok = subprocess.run([BIN, "invoke", "signed", "--endpoint", server.api], capture_output=True, text=True,
                        env=dict(os.environ, ONDOL_ACCESS_KEY_ID="AKIDONDOL", ONDOL_SECRET_ACCESS_KEY="s3cret/key+value"))
    assert ok.returncode == 0, ok.stderr


def test_sigv4_wrong_secret_unknown_key_stale_date_and_unsigned(make_server):
    server = signed_server(make_server)
    wrong = client_with(server, "AKIDONDOL", "not-the-secret")
    with pytest.raises(wrong.exceptions.ClientError) as e:
        wrong.list_functions()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = client_with(server, "AKIDOTHER", "s3cret/key+value")
    with pytest.raises(unknown.exceptions.ClientError) as e:
        unknown.list_functions()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    good = client_with(server, "AKIDONDOL", "s3cret/key+value")
    stale = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=stale):
        with pytest.raises(good.exceptions.ClientError) as e:
            good.list_functions()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Signature expired" in e.value.response["Error"]["Message"]
    r = requests.get(f"{server.api}/2015-03-31/functions")
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert good.list_functions()["Functions"] == []
    assert "s3cret" not in server.output(), "the secret never reaches the logs"


def test_non_loopback_with_credentials_requires_signatures(make_server):
    server = make_server(args=["--api", "0.0.0.0:0"], env={"ONDOL_ACCESS_KEY_ID": "K", "ONDOL_SECRET_ACCESS_KEY": "S"})
    assert 'signatures="required"' in server.output()
    port = server.api.rsplit(":", 1)[1]
    r = requests.get(f"http://127.0.0.1:{port}/2015-03-31/functions")
    assert r.status_code == 403
    assert client_with(server, "K", "S").list_functions()["Functions"] == []
