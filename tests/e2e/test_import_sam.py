"""AWS SAM projects deployed unchanged: `ondol deploy DIR` of a directory with a
`template.yaml` (and `samconfig.toml`) and no `ondol.toml` imports it, prints what it
made of every key, and serves it through the front door with API Gateway's events."""
import json
import shutil
import subprocess
from pathlib import Path

import requests

from conftest import BIN, wait_until

APPS = Path(__file__).resolve().parent / "apps"


def project(tmp_path, name):
    d = tmp_path / name
    shutil.copytree(APPS / name, d)
    assert not (d / "ondol.toml").exists()
    return d


def test_sam_python_hello_world_deploys_unchanged(server, tmp_path):
    d = project(tmp_path, "import-sam-python")
    r = server.cli("deploy", str(d))
    err = r.stderr
    assert "importing AWS SAM" in err, err
    # Everything ondol cannot do is named, with the reason.
    for key in ("unsupported  Resources.UploadsBucket (AWS::S3::Bucket)",
                "unsupported  Resources.HelloWorldFunction.Properties.Policies",
                "unsupported  Resources.TickFunction.Properties.Events.Uploaded",
                "unsupported  Resources.HelloWorldFunction.Properties.Environment.Variables.BUCKET",
                "unsupported  Globals.Function.LoggingConfig",
                "unsupported  Outputs"):
        assert key in err, err
    assert "Parameters.TickRate  →  \"rate(1 seconds)\" (samconfig.toml parameter_overrides)" in err

    body = requests.get(f"{server.http}/hello", timeout=30)
    assert body.status_code == 200, body.text
    got = body.json()
    assert got["message"] == "hello world"
    assert got["greeting"] == "hello from sam-app (dev)"  # !Sub with AWS::StackName from samconfig
    assert got["stage"] == "dev"  # Globals environment, parameter Default
    assert got["self"] == "arn:aws:lambda:us-east-1:000000000000:function:sam-app-HelloWorldFunction"
    assert got["bucket"] is None  # its Ref was reported, not invented
    assert str(got["memory"]) == "128"  # !If [IsProd, 256, 128]
    # A REST API (payload 1.0) event.
    assert got["httpMethod"] == "GET" and got["resource"] == "/hello" and got["path"] == "/hello"

    any_method = requests.post(f"{server.http}/files/a/b.txt", data="x", timeout=30).json()
    assert any_method["httpMethod"] == "POST"
    assert any_method["resource"] == "/files/{proxy+}"
    assert any_method["pathParameters"] == {"proxy": "a/b.txt"}

    # Globals.Api.Cors: a preflight is answered with the template's CORS.
    pre = requests.options(f"{server.http}/hello", timeout=30, headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    assert pre.headers.get("access-control-allow-origin") == "https://app.example.com", pre.headers
    assert "POST" in pre.headers.get("access-control-allow-methods", ""), pre.headers
    assert pre.headers.get("access-control-max-age") == "600", pre.headers

    # The Schedule event fires with its Input; the disabled ScheduleV2 is not scheduled.
    def ticked():
        lines = [e["line"] for e in server.logs(function="sam-app-TickFunction")]
        return [l for l in lines if 'tick event: {"kind": "tick"}' in l] or None
    wait_until(ticked, timeout=20, what="the SAM schedule to fire")
    names = [s["name"] for s in json.loads(server.cli("schedules", "--json").stdout)]
    assert names == ["TickFunction-Tick"], names


def test_sam_config_environment_is_the_stage(server, tmp_path):
    d = project(tmp_path, "import-sam-python")
    server.cli("deploy", str(d))
    r = server.cli("deploy", str(d), "--stage", "prod")
    assert 'Parameters.Stage  →  "prod" (samconfig.toml parameter_overrides)' in r.stderr, r.stderr
    got = requests.get(f"{server.http}/prod/hello", timeout=30).json()
    assert got["stage"] == "prod" and got["greeting"] == "hello from sam-app (prod)"
    assert str(got["memory"]) == "256"  # the IsProd condition holds in [prod]
    # The [default] environment keeps serving beside it, with its own values.
    dev = requests.get(f"{server.http}/hello", timeout=30).json()
    assert dev["stage"] == "dev" and str(dev["memory"]) == "128"


def test_sam_node_hello_world_with_layer_and_http_api(server, tmp_path):
    d = project(tmp_path, "import-sam-node")
    r = server.cli("deploy", str(d), timeout=120)
    assert "unsupported  Resources.AliasErrorMetricGreaterThanZeroAlarm (AWS::CloudWatch::Alarm)" in r.stderr
    assert 'DeploymentPreference  →  strategy = "canary 10% 5m"' in r.stderr

    rest = requests.get(f"{server.http}/hello", timeout=30).json()
    assert rest["message"] == "hello world" and rest["httpMethod"] == "GET"
    assert rest["greeting"] == "hello, sam, from a layer"  # Layers: [!Ref GreetLayer]
    http = requests.get(f"{server.http}/items/42", timeout=30).json()
    assert http["version"] == "2.0" and http["routeKey"] == "GET /items/{id}"
    assert http["pathParameters"] == {"id": "42"}
    fn = server.client().get_function(FunctionName="import-sam-node-HelloWorldFunction")
    assert fn["Configuration"]["Layers"][0]["Arn"].startswith(
        "arn:aws:lambda:us-east-1:000000000000:layer:import-sam-node-GreetLayer:")


def test_sam_lambda_web_adapter_runs_in_web_mode(server, tmp_path):
    d = project(tmp_path, "import-sam-lwa")
    r = server.cli("deploy", str(d), timeout=120)
    assert 'the Lambda Web Adapter: runtime = "web"' in r.stderr, r.stderr
    got = requests.get(f"{server.http}/some/page?q=1", timeout=30)
    assert got.status_code == 200, got.text
    assert got.json() == {"app": "lwa-demo", "path": "/some/page?q=1"}


def test_import_dry_run_prints_a_manifest_deploy_accepts(server, tmp_path):
    d = project(tmp_path, "import-sam-node")
    dry = subprocess.run([BIN, "import", str(d), "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    text = dry.stdout
    assert "# Resources.HelloWorldFunction (AWS::Serverless::Function)" in text
    assert 'strategy = "canary 10% 5m"' in text and "min_warm = 1" in text
    assert not (d / "ondol.toml").exists()
    # Written as ondol.toml (ondol import does it), deploy reads it like any manifest.
    w = subprocess.run([BIN, "import", str(d)], capture_output=True, text=True)
    assert w.returncode == 0, w.stderr
    assert (d / "ondol.toml").read_text() == text
    again = subprocess.run([BIN, "import", str(d)], capture_output=True, text=True)
    assert again.returncode != 0 and "--force" in again.stderr
    (d / "template.yaml").unlink()
    r = server.cli("deploy", str(d), timeout=120)
    assert "importing" not in r.stderr
    got = requests.get(f"{server.http}/items/7", timeout=30).json()
    assert got["pathParameters"] == {"id": "7"}


def test_forty_functions_and_two_hundred_resources_deploy(server, tmp_path):
    # Past CloudFormation's comfort zone: no stack limits apply.
    d = tmp_path / "big"
    (d / "src").mkdir(parents=True)
    (d / "src" / "app.py").write_text(
        'def handler(event, context):\n    return {"statusCode": 200, "body": event["path"]}\n')
    t = "Transform: AWS::Serverless-2016-10-31\nResources:\n"
    for n in range(40):
        t += (f"  F{n}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
              f"      CodeUri: src/\n      Runtime: python3.12\n      Handler: app.handler\n"
              f"      Events: {{E: {{Type: Api, Properties: {{Path: /f{n}, Method: get}}}}}}\n")
        t += "".join(f"  T{n}x{r}:\n    Type: AWS::DynamoDB::Table\n" for r in range(4))
    (d / "template.yaml").write_text(t)
    r = server.cli("deploy", str(d), timeout=300)
    assert r.stderr.count("unsupported  Resources.T") == 160, r.stderr
    for n in (0, 17, 39):
        got = requests.get(f"{server.http}/f{n}", timeout=30)
        assert got.status_code == 200 and got.text == f"/f{n}", got.text
