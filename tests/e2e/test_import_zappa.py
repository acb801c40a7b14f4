"""Zappa projects deploy unchanged: `ondol deploy DIR` with a zappa_settings.json
and no ondol.toml serves the stage's WSGI app (Flask here) through the front door,
runs its scheduled `events`, keeps it warm without pings, and names every setting
it could not map."""
import os
import shutil
import subprocess
from pathlib import Path

import requests

from conftest import BIN, wait_until

APP = Path(__file__).parent / "apps" / "import-zappa-flask"


def run(server, *args):
    r = subprocess.run([BIN, *args, "--endpoint", server.api] if args[0] == "deploy" else [BIN, *args],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    return r


def test_a_flask_app_with_zappa_settings_deploys_unchanged(server, tmp_path):
    d = tmp_path / "flask"
    shutil.copytree(APP, d)
    for name in ["backup.gz", "data/old.rar", "data/keep.txt"]:
        (d / name).parent.mkdir(exist_ok=True)
        (d / name).write_text("x")
    r = run(server, "deploy", str(d))
    assert not (d / "ondol.toml").exists(), "deploy leaves the project as it was"
    for key in ["dev.s3_bucket", "dev.vpc_config", "dev.aws_region"]:
        assert f"unsupported  {key}" in r.stderr, r.stderr
    assert "mapped       dev.exclude" in r.stderr, r.stderr
    assert "mapped       dev.app_function" in r.stderr and "mapped       dev.keep_warm" in r.stderr

    home = requests.get(f"{server.http}/", timeout=60)
    assert home.status_code == 200, home.text
    assert home.json() == {"greeting": "hello from zappa", "path": "/"}
    item = requests.post(f"{server.http}/items/7?q=x", data="payload", timeout=30)
    assert item.json() == {"n": 7, "method": "POST", "q": "x", "body": "payload"}
    assert requests.get(f"{server.http}/nothing", timeout=30).status_code == 404, "Flask's own 404"
    # "exclude": ["*.gz", "*.rar"] matches at any depth, as Zappa's does.
    for name, shipped in [("backup.gz", False), ("data/old.rar", False), ("data/keep.txt", True)]:
        got = requests.get(f"{server.http}/shipped/{name}", timeout=30).json()
        assert got == {"shipped": shipped}, name

    cfg = server.client().get_function(FunctionName="zappa-flask-app")["Configuration"]
    assert cfg["MemorySize"] == 256 and cfg["Timeout"] == 30

    def ticks():
        return [e["line"] for e in server.logs(function="zappa-flask-event-0") if e["line"].startswith("TICK ")]
    got = wait_until(ticks, timeout=30, what="the scheduled event")
    assert got[0] == 'TICK "Scheduled Event"'


def test_import_writes_the_stage_with_extends_applied(tmp_path):
    d = tmp_path / "flask"
    shutil.copytree(APP, d)
    dry = subprocess.run([BIN, "import", str(d), "--stage", "prod", "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "memory_mb = 512" in dry.stdout and "hello from prod" in dry.stdout
    assert "[stages.prod]" in dry.stdout
    assert not (d / "ondol.toml").exists()
    missing = subprocess.run([BIN, "import", str(d), "--stage", "qa"], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and 'no stage "qa"' in missing.stderr
    wrote = subprocess.run([BIN, "import", str(d)], capture_output=True, text=True, timeout=60)
    assert wrote.returncode == 0, wrote.stderr
    assert "GREETING" in (d / "ondol.toml").read_text()


def test_a_django_project_with_zappa_settings_deploys_unchanged(server, tmp_path):
    d = tmp_path / "django"
    shutil.copytree(Path(__file__).parent / "apps" / "import-zappa-django", d)
    r = run(server, "deploy", str(d))
    assert "mapped       production.django_settings" in r.stderr, r.stderr
    got = requests.get(f"{server.http}/hello/ada/?q=1", timeout=60)
    assert got.status_code == 200, got.text
    assert got.json() == {"hello": "ada", "site": "ondol django", "method": "GET", "q": "1"}
    # CommonMiddleware's own redirect: Django answers, not the front door.
    assert requests.get(f"{server.http}/hello/ada", timeout=30, allow_redirects=False).status_code == 301
    assert server.client().get_function(FunctionName="zappa-django-app")["Configuration"]["MemorySize"] == 512, "Zappa's default"


def test_deploy_dry_run_prints_the_plan_and_deploys_nothing(server, tmp_path):
    d = tmp_path / "flask"
    shutil.copytree(APP, d)
    r = run(server, "deploy", str(d), "--dry-run")
    assert "unsupported  dev.s3_bucket" in r.stderr, "the import report comes first"
    assert "function  zappa-flask-app  (web, 256 MB, 30 s timeout" in r.stdout, r.stdout
    assert "route     ANY /{proxy+}  →  zappa-flask-app" in r.stdout
    assert "schedule  event-0  rate(1 seconds)  →  zappa-flask-event-0" in r.stdout
    assert "nothing was deployed" in r.stdout
    assert server.client().list_functions()["Functions"] == []
