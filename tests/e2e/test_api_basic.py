"""The management operations of the execution core, through boto3 and the aws CLI."""
import base64
import hashlib
import json
import os
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import AWS, FUNCTIONS, zip_dir


def test_create_get_list_update_delete_with_boto3(server):
    c = server.client()
    z = zip_dir(FUNCTIONS / "py_hello")
    created = c.create_function(FunctionName="crud", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                                Handler="app.handler", Code={"ZipFile": z}, Description="d",
                                Timeout=7, MemorySize=256, Environment={"Variables": {"A": "1"}},
                                Tags={"team": "core"})
    assert created["State"] == "Active" and created["LastUpdateStatus"] == "Successful"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(z).digest()).decode()
    assert created["CodeSize"] == len(z)
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:crud"
    got = c.get_function(FunctionName="crud")
    assert got["Configuration"]["Timeout"] == 7 and got["Configuration"]["MemorySize"] == 256
    assert got["Tags"] == {"team": "core"}
    zip_back = requests.get(server.api + got["Code"]["Location"]).content
    assert zip_back == z
    conf = c.get_function_configuration(FunctionName="crud")
    assert conf["Environment"]["Variables"] == {"A": "1"}

    updated = c.update_function_configuration(FunctionName="crud", Environment={"Variables": {"A": "2"}})
    assert updated["RevisionId"] != conf["RevisionId"]
    r = json.loads(c.invoke(FunctionName="crud", Payload=b"{}")["Payload"].read())
    assert r["env"]["A"] == "2", "the new configuration serves at once"
    assert r["memory_limit_in_mb"] in (256, "256")

    with pytest.raises(ClientError) as e:
        c.update_function_code(FunctionName="crud", ZipFile=z, RevisionId="stale")
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    z2 = zip_dir(FUNCTIONS / "py_pkg")
    new = c.update_function_code(FunctionName="crud", ZipFile=z2, RevisionId=updated["RevisionId"])
    assert new["CodeSha256"] == base64.b64encode(hashlib.sha256(z2).digest()).decode()

    c.delete_function(FunctionName="crud")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function(FunctionName="crud")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.invoke(FunctionName="crud")


def test_function_name_forms(server):
    server.create("named", "python3.11", code="py_hello")
    c = server.client()
    for fn in ["named", "named:$LATEST",
               "arn:aws:lambda:us-east-1:000000000000:function:named",
               "000000000000:function:named"]:
        r = c.invoke(FunctionName=fn, Payload=b"{}")
        assert r["StatusCode"] == 200 and "FunctionError" not in r, fn
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.invoke(FunctionName="named:1", Qualifier="2")


def test_errors_are_modeled_exceptions(server):
    c = server.client()
    server.create("dup", "python3.11", code="py_hello")
    z = zip_dir(FUNCTIONS / "py_hello")
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.create_function(FunctionName="dup", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r", Handler="app.handler", Code={"ZipFile": z})
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.create_function(FunctionName="m", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r", Handler="app.handler", Code={"ZipFile": z}, MemorySize=20000)
    assert "MemorySize" in str(e.value)
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.create_function(FunctionName="rt", Runtime="cobol85", Role="arn:aws:iam::000000000000:role/r", Handler="app.handler", Code={"ZipFile": z})
    assert "cobol85" in str(e.value)
    r = requests.post(f"{server.api}/2015-03-31/functions", data=b"{not json")
    assert r.status_code == 400 and r.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    r = requests.post(f"{server.api}/2015-03-31/functions", json={"FunctionName": "x" * 65, "Runtime": "python3.11", "Handler": "a.b", "Code": {"ZipFile": ""}})
    assert r.status_code == 400 and "64" in r.json()["message"]
    r = requests.post(f"{server.api}/2015-03-31/functions", json={"FunctionName": "t", "Timeout": "soon", "Code": {}})
    assert r.status_code == 400 and "Timeout" in r.json()["message"], r.text
    assert c.list_functions()["Functions"][0]["FunctionName"] == "dup", "nothing half-created"
    assert len(c.list_functions()["Functions"]) == 1


def test_list_pagination_with_and_without_trailing_slash(server):
    z = base64.b64encode(zip_dir(FUNCTIONS / "py_hello")).decode()
    for i in range(5):
        requests.post(f"{server.api}/2015-03-31/functions", json={
            "FunctionName": f"f{i}", "Runtime": "python3.11", "Handler": "app.handler", "Code": {"ZipFile": z}}).raise_for_status()
    c = server.client()
    page = c.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in page["Functions"]] == ["f0", "f1"]
    names = [f["FunctionName"] for p in c.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}) for f in p["Functions"]]
    assert names == [f"f{i}" for i in range(5)]
    slash = requests.get(f"{server.api}/2015-03-31/functions/?MaxItems=10").json()
    assert len(slash["Functions"]) == 5 and "NextMarker" not in slash


def test_invoke_dry_run_and_event_answers(server):
    server.create("dry", "python3.11", code="py_hello")
    c = server.client()
    assert c.invoke(FunctionName="dry", InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.invoke(FunctionName="nope", InvocationType="DryRun")
    assert c.invoke(FunctionName="dry", InvocationType="Event")["StatusCode"] == 202
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.invoke(FunctionName="dry", InvocationType="Sometime")
    assert "Sometime" in str(e.value)


def test_aws_cli_create_and_invoke(server, tmp_path):
    z = tmp_path / "code.zip"
    z.write_bytes(zip_dir(FUNCTIONS / "py_hello"))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y", AWS_DEFAULT_REGION="us-east-1")
    aws = [*AWS, "lambda", "--endpoint-url", server.api]
    out = subprocess.run(aws + ["create-function", "--function-name", "cli", "--runtime", "python3.11",
                                "--role", "arn:aws:iam::000000000000:role/r", "--handler", "app.handler",
                                "--zip-file", f"fileb://{z}"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["State"] == "Active"
    w = subprocess.run(aws + ["wait", "function-active-v2", "--function-name", "cli"], capture_output=True, text=True, env=env)
    assert w.returncode == 0, w.stderr
    res = tmp_path / "out.json"
    inv = subprocess.run(aws + ["invoke", "--function-name", "cli",
                                "--payload", '{"via": "aws-cli"}', str(res)], capture_output=True, text=True, env=env)
    assert inv.returncode == 0, inv.stderr
    assert json.loads(inv.stdout)["StatusCode"] == 200
    assert json.loads(res.read_text())["event"] == {"via": "aws-cli"}
