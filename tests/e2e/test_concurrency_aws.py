"""Concurrency as AWS Lambda does it: reserved concurrency 0 is a kill switch (sync,
async and the front door), reservations leave the node's unreserved minimum, and
reserved and provisioned concurrency are checked against each other.

Each expectation cites where AWS's answer comes from. "api.snap" is LocalStack's
recording of real AWS, tests/aws/services/lambda_/test_lambda_api.snapshot.json;
"lambda.snap" is test_lambda.snapshot.json beside it (github:localstack/localstack).
"""
import json
import os
import shutil
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import AWS, FUNCTIONS, wait_until

ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def error(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"], r


def published(server, name, alias=None):
    """A function with version 1 (and an alias on it)."""
    c = server.client()
    server.create(name, "python3.11", code="py_hello")
    c.publish_version(FunctionName=name)
    if alias:
        c.create_alias(FunctionName=name, Name=alias, FunctionVersion="1")
    return c


# ---- the kill switch ----

def test_reserved_zero_throttles_sync_invoke_even_with_a_warm_instance(server):
    c = server.client()
    server.create("kill", "python3.11", code="py_hello")
    assert server.invoke("kill").status_code == 200
    assert server.pool("kill")["idle"] == 1, "a warm instance is there to be misused"
    c.put_function_concurrency(FunctionName="kill", ReservedConcurrentExecutions=0)
    # lambda.snap TestLambdaConcurrency::test_reserved_concurrency "exc_no_cap_requestresponse":
    # 429 TooManyRequestsException "Rate Exceeded.", Reason ReservedFunctionConcurrentInvocationLimitExceeded.
    status, code, msg, r = error(c.invoke, FunctionName="kill", Payload=b"{}")
    assert (status, code, msg) == (429, "TooManyRequestsException", "Rate Exceeded.")
    assert r["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert r["Type"] == "User"
    wait_until(lambda: server.pool("kill")["running"] == 0, timeout=10,
               what="the warm instance stopped by the kill switch")
    c.delete_function_concurrency(FunctionName="kill")
    assert c.invoke(FunctionName="kill", Payload=b"{}")["StatusCode"] == 200


def test_reserved_zero_throttles_the_aws_cli(server):
    server.create("clikill", "python3.11", code="py_hello")
    server.client().put_function_concurrency(FunctionName="clikill", ReservedConcurrentExecutions=0)
    r = subprocess.run(
        [*AWS, "lambda", "invoke", "--function-name", "clikill", "--endpoint-url", server.api,
         "--region", "us-east-1", "/dev/null"],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                 AWS_MAX_ATTEMPTS="1"))
    # The aws CLI prints AWS's error: "An error occurred (TooManyRequestsException)
    # when calling the Invoke operation ...: Rate Exceeded." (lambda.snap, as above).
    assert r.returncode != 0
    assert "(TooManyRequestsException)" in r.stderr and "Rate Exceeded." in r.stderr, r.stderr


@pytest.mark.host_files
def test_reserved_zero_fails_async_events_to_the_failure_destination(server, tmp_path):
    c = server.client()
    sink = tmp_path / "sink"
    ran = tmp_path / "ran"
    server.create("sink", "python3.11", code="py_sink", env={"SINK_FILE": str(sink)})
    server.create("quiet", "python3.11", code="py_hello")
    c.put_function_event_invoke_config(
        FunctionName="quiet", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}:sink"}})
    c.put_function_concurrency(FunctionName="quiet", ReservedConcurrentExecutions=0)
    r = c.invoke(FunctionName="quiet", InvocationType="Event",
                 Payload=json.dumps({"append": str(ran), "mark": 1}))
    assert r["StatusCode"] == 202
    # lambda.snap test_reserved_concurrency "msg": the event goes to the failure
    # destination at once, condition ZeroReservedConcurrency, approximateInvokeCount 0,
    # the request payload and no responseContext.
    rec = wait_until(lambda: sink.exists() and json.loads(sink.read_text().splitlines()[0]),
                     timeout=20, what="the failure record")
    ctx = rec["requestContext"]
    assert ctx["condition"] == "ZeroReservedConcurrency"
    assert ctx["approximateInvokeCount"] == 0
    assert ctx["functionArn"] == f"{ARN}:quiet:$LATEST"
    assert ctx["requestId"] == r["ResponseMetadata"]["RequestId"]
    assert rec["requestPayload"] == {"append": str(ran), "mark": 1}
    assert "responseContext" not in rec and "responsePayload" not in rec
    assert not ran.exists(), "the function never ran"
    # Lifted: events run again.
    c.delete_function_concurrency(FunctionName="quiet")
    c.invoke(FunctionName="quiet", InvocationType="Event",
             Payload=json.dumps({"append": str(ran), "mark": 2}))
    wait_until(ran.exists, timeout=20, what="the event after the switch is lifted")
    assert len(sink.read_text().splitlines()) == 1


@pytest.mark.host_files
def test_reserved_zero_without_a_destination_is_a_dead_letter(server, tmp_path):
    c = server.client()
    ran = tmp_path / "ran"
    server.create("dead", "python3.11", code="py_hello")
    c.put_function_concurrency(FunctionName="dead", ReservedConcurrentExecutions=0)
    c.invoke(FunctionName="dead", InvocationType="Event", Payload=json.dumps({"append": str(ran)}))
    dlq = wait_until(lambda: json.loads(server.cli("dlq", "list", "dead", "--json").stdout),
                     timeout=20, what="a dead letter")
    assert dlq[0]["record"]["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert not ran.exists()


MANIFEST = """
app = "kill"

[functions.web]
runtime = "python3.11"
handler = "app.handler"
code = "web"

[[routes]]
route = "GET /hello"
function = "web"
"""


def test_reserved_zero_throttles_a_route_and_a_function_url(server, tmp_path):
    app = tmp_path / "app"
    shutil.copytree(FUNCTIONS / "py_hello", app / "web")
    (app / "ondol.toml").write_text(MANIFEST)
    server.cli("deploy", str(app), timeout=120)
    [name] = [f["name"] for f in json.loads(server.cli("status", "--json").stdout)["functions"]]
    c = server.client()
    url = c.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    host = url.split("//")[1].split(":")[0]
    port = server.http.rsplit(":", 1)[1]
    fn_url = lambda: requests.get(f"http://127.0.0.1:{port}/x", headers={"Host": host}, timeout=30)
    route = lambda: requests.get(server.http + "/hello", timeout=30)
    assert route().status_code == 200 and fn_url().status_code == 200

    c.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    # API Gateway HTTP API in front of a throttled Lambda: 503 {"message":"Service
    # Unavailable"} (https://repost.aws/questions/QUY-RwZFRdTAa-rf6JrNTLRQ: the status
    # when the integration cannot give a response).
    r = route()
    assert (r.status_code, r.json()) == (503, {"message": "Service Unavailable"}), r.text
    # A Function URL answers Lambda's throttle itself: 429 {"message":"Rate Exceeded."}
    # (the body AWS sends: github.com/huntharo/lambda-provisioned-throttling).
    u = fn_url()
    assert (u.status_code, u.json()) == (429, {"message": "Rate Exceeded."}), u.text

    c.delete_function_concurrency(FunctionName=name)
    assert route().status_code == 200 and fn_url().status_code == 200


# ---- the unreserved minimum ----

SMALL = ["--concurrency-limit", "10", "--unreserved-min", "5"]


def test_reservations_leave_the_unreserved_minimum(make_server):
    server = make_server(args=SMALL)
    c = server.client()
    server.create("a", "python3.11", code="py_hello")
    server.create("b", "python3.11", code="py_hello")
    s = c.get_account_settings()["AccountLimit"]
    assert (s["ConcurrentExecutions"], s["UnreservedConcurrentExecutions"]) == (10, 10)
    c.put_function_concurrency(FunctionName="a", ReservedConcurrentExecutions=3)
    # api.snap TestLambdaReservedConcurrency::test_function_concurrency_limits
    # "put_function_concurrency_below_unreserved_min_value": 400 InvalidParameterValueException.
    status, code, msg, _ = error(c.put_function_concurrency, FunctionName="b",
                                 ReservedConcurrentExecutions=3)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert msg == ("Specified ReservedConcurrentExecutions for function decreases account's "
                   "UnreservedConcurrentExecution below its minimum value of [5].")
    # ...and over the whole limit ("put_function_concurrency_account_limit_exceeded"): the same.
    assert error(c.put_function_concurrency, FunctionName="b",
                 ReservedConcurrentExecutions=11)[2] == msg
    c.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=2)
    # Changing a's own reservation counts a's old one out.
    c.put_function_concurrency(FunctionName="a", ReservedConcurrentExecutions=3)
    s = c.get_account_settings()["AccountLimit"]
    assert (s["ConcurrentExecutions"], s["UnreservedConcurrentExecutions"]) == (10, 5)
    c.delete_function_concurrency(FunctionName="a")
    assert c.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 8


def test_provisioned_comes_out_of_the_unreserved_pool(make_server):
    server = make_server(args=SMALL)
    c = published(server, "p")
    # api.snap test_provisioned_concurrency_limits: "put_provisioned_concurrency_account_limit_exceeded"
    status, code, msg, _ = error(c.put_provisioned_concurrency_config, FunctionName="p",
                                 Qualifier="1", ProvisionedConcurrentExecutions=11)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert msg == "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [10]."
    # ..."put_provisioned_concurrency_below_unreserved_min_value"
    assert error(c.put_provisioned_concurrency_config, FunctionName="p", Qualifier="1",
                 ProvisionedConcurrentExecutions=6)[2] == (
        "Specified ConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [5].")


def test_the_node_refuses_a_minimum_over_its_limit(tmp_path):
    from conftest import BIN
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "d"), "--api", "127.0.0.1:0",
                        "--http", "127.0.0.1:0", "--concurrency-limit", "10", "--unreserved-min", "11"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "--unreserved-min (11) cannot exceed --concurrency-limit (10)" in r.stderr


# ---- cross-checks ----

def test_reserved_lower_than_provisioned_is_refused(server):
    c = published(server, "rp")
    c.put_provisioned_concurrency_config(FunctionName="rp", Qualifier="1", ProvisionedConcurrentExecutions=2)
    # lambda.snap test_reserved_provisioned_overlap "reserved_lower_than_provisioned_exc"
    # (AWS's text, doubled spaces included).
    status, code, msg, _ = error(c.put_function_concurrency, FunctionName="rp", ReservedConcurrentExecutions=1)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert msg == " ReservedConcurrentExecutions  1 should not be lower than function's total provisioned concurrency [2]."
    c.put_function_concurrency(FunctionName="rp", ReservedConcurrentExecutions=2)
    # ..."reserved_equals_provisioned_latest_invoke_exc": the provisioned instances hold
    # the whole reservation, so $LATEST is throttled.
    status, code, msg, r = error(c.invoke, FunctionName="rp", Payload=b"{}")
    assert (status, code, msg) == (429, "TooManyRequestsException", "Rate Exceeded.")
    assert r["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert c.invoke(FunctionName="rp", Qualifier="1", Payload=b"{}")["StatusCode"] == 200
    # ..."reserved_equals_provisioned_increase_provisioned_exc"
    status, code, msg, _ = error(c.put_provisioned_concurrency_config, FunctionName="rp",
                                 Qualifier="1", ProvisionedConcurrentExecutions=3)
    assert (status, code, msg) == (400, "InvalidParameterValueException",
                                   "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")


def test_an_alias_and_its_version_are_not_both_provisioned(server):
    c = published(server, "av", alias="live")
    # api.snap test_lambda_provisioned_lifecycle
    c.put_provisioned_concurrency_config(FunctionName="av", Qualifier="1", ProvisionedConcurrentExecutions=1)
    # "put_provisioned_on_alias_versionconflict": 409
    assert error(c.put_provisioned_concurrency_config, FunctionName="av", Qualifier="live",
                 ProvisionedConcurrentExecutions=1)[:3] == (
        409, "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
    c.delete_provisioned_concurrency_config(FunctionName="av", Qualifier="1")
    c.put_provisioned_concurrency_config(FunctionName="av", Qualifier="live", ProvisionedConcurrentExecutions=1)
    # "put_provisioned_on_version_conflict": 409
    assert error(c.put_provisioned_concurrency_config, FunctionName="av", Qualifier="1",
                 ProvisionedConcurrentExecutions=1)[:3] == (
        409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias")


def test_provisioned_config_errors_are_aws_s(server):
    c = published(server, "pe")
    # api.snap test_provisioned_concurrency_exceptions, key by key.
    cases = [
        ("get_provisioned_qualifier_doesnotexist", c.get_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="noalias"),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {ARN}:pe:noalias")),
        ("get_provisioned_functionname_doesnotexist", c.get_provisioned_concurrency_config,
         dict(FunctionName="doesnotexist", Qualifier="noalias"),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {ARN}:doesnotexist:noalias")),
        ("get_provisioned_version_doesnotexist", c.get_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="10"),
         (404, "ResourceNotFoundException", f"Function not found: {ARN}:pe:10")),
        ("get_provisioned_config_doesnotexist", c.get_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="1"),
         (404, "ProvisionedConcurrencyConfigNotFoundException",
          "No Provisioned Concurrency Config found for this function")),
        ("get_provisioned_latest", c.get_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="$LATEST"),
         (400, "InvalidParameterValueException",
          "The function resource provided must be an alias or a published version.")),
        ("delete_provisioned_latest", c.delete_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="$LATEST"),
         (400, "InvalidParameterValueException",
          "The function resource provided must be an alias or a published version.")),
        ("delete_provisioned_qualifier_doesnotexist", c.delete_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="noalias"),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {ARN}:pe:noalias")),
        ("delete_provisioned_functionname_doesnotexist", c.delete_provisioned_concurrency_config,
         dict(FunctionName="doesnotexist", Qualifier="1"),
         (404, "ResourceNotFoundException", f"Function not found: {ARN}:doesnotexist:1")),
        ("put_provisioned_qualifier_doesnotexist", c.put_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="doesnotexist", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {ARN}:pe:doesnotexist")),
        ("put_provisioned_version_doesnotexist", c.put_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="10", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Function not found: {ARN}:pe:10")),
        ("put_provisioned_functionname_doesnotexist_alias", c.put_provisioned_concurrency_config,
         dict(FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {ARN}:doesnotexist:noalias")),
        ("put_provisioned_latest", c.put_provisioned_concurrency_config,
         dict(FunctionName="pe", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1),
         (400, "InvalidParameterValueException",
          "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")),
    ]
    for key, fn, kw, want in cases:
        assert error(fn, **kw)[:3] == want, key
    # "put_provisioned_invalid_param_0" (boto3 refuses 0 itself, so sent raw).
    r = requests.put(f"{server.api}/2019-09-30/functions/pe/provisioned-concurrency?Qualifier=1",
                     json={"ProvisionedConcurrentExecutions": 0}, timeout=30)
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert r.json()["message"] == (
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed "
        "to satisfy constraint: Member must have value greater than or equal to 1")
    # "delete_provisioned_config_doesnotexist": 204, nothing to delete is not an error.
    r = c.delete_provisioned_concurrency_config(FunctionName="pe", Qualifier="1")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_reserved_concurrency_on_a_qualifier_is_refused(server):
    c = published(server, "rq")
    # api.snap test_function_concurrency_exceptions "put_function_concurrency_with_qualified_arn"
    assert error(c.put_function_concurrency, FunctionName=f"{ARN}:rq:1",
                 ReservedConcurrentExecutions=1)[:3] == (
        400, "InvalidParameterValueException",
        "This operation is permitted on Lambda functions only. Aliases and versions do not "
        "support this operation. Please specify either a function name or an unqualified function ARN.")
