"""Serverless Framework projects deploy unchanged: `ondol deploy DIR` with a
serverless.yml and no ondol.toml imports it, serves its httpApi (payload 2.0) and
http (payload 1.0) events through the front door, fires its schedule, and names
every key it could not map."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import BIN, wait_until

APPS = Path(__file__).parent / "apps"


def copy_app(tmp_path, name):
    d = tmp_path / name
    shutil.copytree(APPS / name, d)
    return d


def deploy(server, d, *args, env=None):
    r = subprocess.run([BIN, "deploy", str(d), *args, "--endpoint", server.api],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    return r


def test_python_http_api_deploys_unchanged(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-python")
    r = deploy(server, d, env={"TICK_RATE": "rate(1 seconds)"})
    assert not (d / "ondol.toml").exists(), "deploy leaves the project as it was"
    # The report names what could not be mapped.
    for key in ["provider.iam", "resources", "functions.tick.events[2].sqs",
                "functions.rest.events[0].http.cors"]:
        assert f"unsupported  {key}" in r.stderr, r.stderr
    assert "mapped       plugins[0] (serverless-python-requirements)" in r.stderr, r.stderr

    got = requests.get(f"{server.http}/hello/ada", timeout=30)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body == {
        "message": "hello from sls-py", "name": "ada", "version": "2.0",
        "routeKey": "GET /hello/{name}", "table": "items-dev", "stage": "dev",
        "six": "six", "memory": "256",
    }
    rest = requests.get(f"{server.http}/legacy/42", timeout=30)
    assert rest.status_code == 200, rest.text
    assert rest.json() == {"id": "42", "httpMethod": "GET", "resource": "/legacy/{id}"}
    # Only POST was declared on the greedy route.
    assert requests.get(f"{server.http}/items/a/b", timeout=10).status_code == 404

    def fired():
        lines = [e["line"] for e in server.logs(function="sls-py-tick")]
        return [l for l in lines if l.startswith("TICK ")]
    ticks = wait_until(fired, timeout=20, what="the schedule to fire")
    assert json.loads(ticks[0][len("TICK "):]) == {"source": "tick"}
    names = [s["name"] for s in json.loads(server.cli("schedules", "--json").stdout)]
    assert names == ["tick-schedule-1"], "the disabled schedule is not created"


def test_a_stage_resolves_sls_stage(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-python")
    deploy(server, d, "--stage", "prod")
    got = requests.get(f"{server.http}/prod/hello/bo", timeout=30)
    assert got.status_code == 200, got.text
    assert got.json()["table"] == "items-prod" and got.json()["stage"] == "prod"


def test_node_template_deploys_unchanged(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-node")
    deploy(server, d)
    root = requests.get(f"{server.http}/", timeout=30)
    assert root.status_code == 200, root.text
    assert root.json()["message"].startswith("Go Serverless v3.0!")
    assert root.json()["version"] == "2.0"
    other = requests.get(f"{server.http}/any/where", timeout=30)
    assert other.status_code == 200 and other.json()["path"] == "/any/where"


def test_import_dry_run_prints_a_manifest_deploy_accepts(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-node")
    r = subprocess.run([BIN, "import", str(d), "--dry-run"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert 'app = "sls-node"' in r.stdout and "# from functions.hello" in r.stdout
    assert not (d / "ondol.toml").exists()
    (d / "ondol.toml").write_text(r.stdout)
    (d / "serverless.yml").unlink()
    deploy(server, d)
    assert requests.get(f"{server.http}/", timeout=30).json()["version"] == "2.0"
