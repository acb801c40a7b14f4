"""`ondol deploy` and `ondol up`, as a user runs them."""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from conftest import BIN, ROOT, wait_until


def copy_app(tmp_path):
    dst = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dst)
    return dst


def test_redeploy_uploads_only_what_changed(server, tmp_path):
    app = copy_app(tmp_path)
    first = server.cli("deploy", str(app)).stdout
    assert "3 uploaded, 0 unchanged" in first, first
    again = server.cli("deploy", str(app)).stdout
    assert "0 uploaded, 3 unchanged" in again, again
    (app / "hello" / "app.py").write_text((app / "hello" / "app.py").read_text().replace("!", "!!"))
    third = server.cli("deploy", str(app)).stdout
    assert "1 uploaded, 2 unchanged" in third and "shop-hello: code uploaded" in third, third
    r = requests.get(server.http + "/hello/x")
    assert r.json() == {"message": "hello, x!!"}
    assert re.search(r"GET +http://127\.0\.0\.1:\d+/hello/\{name\}", third)


def test_a_bad_manifest_changes_nothing_and_says_why(server, tmp_path):
    app = copy_app(tmp_path)
    server.cli("deploy", str(app))
    before = requests.get(server.http + "/hello/a").json()
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace('timeout = "3s"', 'timeout = "3 fortnights please"').replace('GREETING = "hello"', 'GREETING = "changed"'))
    bad = server.cli("deploy", str(app), check=False)
    assert bad.returncode != 0
    assert f"{toml}: functions.hello.timeout: expected a duration" in bad.stderr, bad.stderr
    assert requests.get(server.http + "/hello/a").json() == before
    toml.write_text(toml.read_text().replace('3 fortnights please', '3s').replace('[[routes]]\nroute = "POST /greet"\nfunction = "greet"', '[[routes]]\nroute = "POST /greet"\nfunction = "nosuch"'))
    bad = server.cli("deploy", str(app), check=False)
    assert "routes[1].function: expected one of the functions" in bad.stderr, bad.stderr
    assert requests.get(server.http + "/hello/a").json() == before


def test_up_serves_the_example_and_streams_logs(tmp_path):
    app = copy_app(tmp_path)
    log = tmp_path / "up.log"
    proc = subprocess.Popen([BIN, "up", str(app), "--api", "127.0.0.1:0", "--http", "127.0.0.1:0"],
                            cwd=tmp_path, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        m = wait_until(lambda: re.search(r"GET +(http://127\.0\.0\.1:\d+)/hello/\{name\}", log.read_text()), timeout=60)
        base = m.group(1)
        assert requests.get(base + "/hello/newcomer").json() == {"message": "hello, newcomer!"}
        assert requests.post(base + "/greet", json={"name": "ana"}).json()["greeting"] == "hi ana"
        assert "served by a web-mode function" in requests.get(base + "/site/home").text
        wait_until(lambda: "[shop-hello] greeting newcomer" in log.read_text(), timeout=10)
        assert (tmp_path / ".ondol" / "ondol.db").exists(), "the default store"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_deploy_json_for_ci(server, tmp_path):
    import json as _json
    app = copy_app(tmp_path)
    out = server.cli("deploy", str(app), "--json").stdout
    r = _json.loads(out)
    assert r["app"] == "shop" and sorted(r["uploaded"]) == ["shop-greet", "shop-hello", "shop-site"]
    assert r["versions"] == {"shop-greet": "1", "shop-hello": "1", "shop-site": "1"}
    assert any(x["route"] == "GET /hello/{name}" and x["url"].endswith("/hello/{name}") for x in r["routes"])
    again = _json.loads(server.cli("deploy", str(app), "--json").stdout)
    assert again["uploaded"] == [] and again["versions"] == r["versions"]


def test_dev_redeploys_on_save_without_an_error(tmp_path):
    import threading
    app = copy_app(tmp_path)
    # A canary is for shared stages: the dev loop puts a saved change live at once.
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace('environment = { GREETING = "hello" }',
                                             'environment = { GREETING = "hello" }\nstrategy = "canary 10% 5m"'))
    log = tmp_path / "dev.log"
    proc = subprocess.Popen([BIN, "dev", str(app), "--api", "127.0.0.1:0", "--http", "127.0.0.1:0",
                             "--data-dir", str(tmp_path / "data")],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        base = wait_until(lambda: re.search(r"GET +(http://127\.0\.0\.1:\d+)/hello/\{name\}", log.read_text()), timeout=60).group(1)
        assert requests.get(base + "/hello/dev").json() == {"message": "hello, dev!"}
        results, stop = [], threading.Event()

        def load():
            with requests.Session() as s:
                while not stop.is_set():
                    r = s.get(base + "/hello/dev", timeout=10)
                    results.append((r.status_code, r.json().get("message")))

        t = threading.Thread(target=load)
        t.start()
        hello = app / "hello" / "app.py"
        hello.write_text(hello.read_text().replace("!", " (edited)!"))
        wait_until(lambda: "redeployed in" in log.read_text(), timeout=20, what="the redeploy")
        wait_until(lambda: results and results[-1][1] == "hello, dev (edited)!", timeout=10)
        stop.set()
        t.join()
        assert all(code == 200 for code, _ in results), [r for r in results if r[0] != 200][:3]
        toml = app / "ondol.toml"
        toml.write_text(toml.read_text().replace('timeout = "3s"', 'timeout = "soon"'))
        wait_until(lambda: "not deployed, the last good version keeps serving" in log.read_text(), timeout=20)
        assert requests.get(base + "/hello/dev").json() == {"message": "hello, dev (edited)!"}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
