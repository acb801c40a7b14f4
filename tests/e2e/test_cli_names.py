"""The CLI finds functions by the names users type: the key from ondol.toml inside
the app directory (or with --app), a full name anywhere; an unknown name fails with
a suggestion; `logs --request-id` right after an invoke finds the request's lines."""
import json
import shutil
import subprocess

import requests

from conftest import BIN, ROOT, wait_until

FUNCTIONS = ROOT / "tests" / "e2e" / "functions"


def make_app(tmp_path):
    app = tmp_path / "names"
    for key in ("web", "boom"):
        (app / key).mkdir(parents=True)
        shutil.copy(FUNCTIONS / "py_hello" / "app.py", app / key / "app.py")
    (app / "ondol.toml").write_text('''
app = "names"

[functions.web]
runtime = "python3.11"
handler = "app.handler"
code = "web"

[functions.boom]
runtime = "python3.11"
handler = "app.handler"
code = "boom"
async = { maximum_retry_attempts = 0 }
''')
    return app


def ondol(server, *args, cwd):
    return subprocess.run([BIN, *args, "--endpoint", server.api], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def deployed(server, tmp_path):
    app = make_app(tmp_path)
    server.cli("deploy", str(app))
    return app


def test_keys_work_inside_the_app_dir_and_with_app(server, tmp_path):
    app = deployed(server, tmp_path)
    elsewhere = tmp_path  # no ondol.toml here
    r = ondol(server, "invoke", "web", "--payload", '{"print": 1, "tag": "by-key"}', cwd=app)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["function_name"] == "names-web"
    r = ondol(server, "invoke", "web", "--stage", "$default", "--app", "names",
              "--payload", '{"print": 1, "tag": "staged"}', cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["function_version"] == "1", "the version the stage's alias serves"
    r = ondol(server, "invoke", "web", "--dir", str(app), "--payload", '{"print": 1, "tag": "by-dir"}', cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    for args, cwd in [(["web"], app), (["web", "--app", "names"], elsewhere),
                      (["names-web"], elsewhere), (["names-web"], app)]:
        out = wait_until(lambda: (lambda o: o if "by-dir 0" in o else None)(
            ondol(server, "logs", *args, cwd=cwd).stdout), timeout=10, what=f"logs {args}")
        assert "by-key 0" in out, (args, out)
    r = ondol(server, "logs", "web", "--stage", "$default", cwd=app)
    assert r.returncode == 0, r.stderr
    assert "staged 0" in r.stdout and "by-key 0" not in r.stdout, "only the stage's version"


def test_unknown_names_fail_with_a_suggestion(server, tmp_path):
    app = deployed(server, tmp_path)
    for cmd in (["logs", "wbe"], ["invoke", "wbe"], ["dlq", "list", "wbe"]):
        r = ondol(server, *cmd, cwd=app)
        assert r.returncode != 0, (cmd, r.stdout)
        assert 'no function "wbe"' in r.stderr and "did you mean web (names-web)?" in r.stderr, (cmd, r.stderr)
    r = ondol(server, "dlq", "list", "boon", "--app", "names", cwd=tmp_path)
    assert r.returncode != 0 and "did you mean boom (names-boom)?" in r.stderr, r.stderr
    r = ondol(server, "logs", "web", cwd=tmp_path)
    assert r.returncode != 0 and 'no function "web"; did you mean names-web?' in r.stderr, r.stderr
    for cmd in (["logs", "doesnotexist"], ["dlq", "list", "nosuch"], ["invoke", "nosuch"]):
        for cwd in (app, tmp_path):
            r = ondol(server, *cmd, cwd=cwd)
            assert r.returncode != 0 and r.stdout == "", (cmd, cwd, r.stdout)
            assert 'no function "' in r.stderr, (cmd, r.stderr)
    # A key declared in ondol.toml but never deployed says so.
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text() + '\n[functions.later]\nruntime = "python3.11"\nhandler = "app.handler"\ncode = "web"\n')
    r = ondol(server, "logs", "later", cwd=app)
    assert r.returncode != 0 and "names-later is not deployed" in r.stderr, r.stderr


def test_dlq_by_key(server, tmp_path):
    app = deployed(server, tmp_path)
    c = server.client()
    rid = c.invoke(FunctionName="names-boom", Qualifier="live", InvocationType="Event",
                   Payload=json.dumps({"raise": "no"}))["ResponseMetadata"]["RequestId"]
    letters = wait_until(lambda: json.loads(ondol(server, "dlq", "list", "boom", "--json", cwd=app).stdout) or None,
                         timeout=20, what="a dead letter")
    assert [l["request_id"] for l in letters] == [rid]
    r = ondol(server, "dlq", "list", "boom", "--app", "names", cwd=tmp_path)
    assert r.returncode == 0 and rid in r.stdout, r.stderr
    r = ondol(server, "dlq", "show", "boom", str(letters[0]["id"]), cwd=app)
    assert r.returncode == 0 and rid in r.stdout, r.stderr
    r = ondol(server, "dlq", "purge", "boom", "--yes", cwd=app)
    assert r.returncode == 0 and "purged 1" in r.stdout, r.stderr


def test_request_id_right_after_the_response_finds_its_lines(server, tmp_path):
    app = deployed(server, tmp_path)
    c = server.client()
    for i in range(20):
        r = c.invoke(FunctionName="names-web", Payload=json.dumps({"print": 1, "tag": f"round{i}"}))
        rid = r["ResponseMetadata"]["RequestId"]
        # Any client: the API answers once the request's END line is stored.
        got = requests.get(f"{server.api}/ondol/v1/logs",
                           params={"function": "names-web", "request_id": rid}, timeout=10).json()
        lines = [e["line"] for e in got["entries"]]
        assert got["complete"] is True and f"END RequestId: {rid}" in lines, (i, lines)
        assert f"round{i} 0" in lines
        r = c.invoke(FunctionName="names-web", Payload=json.dumps({"print": 1, "tag": f"cli{i}"}))
        rid = r["ResponseMetadata"]["RequestId"]
        out = ondol(server, "logs", "web", "--request-id", rid, cwd=app)
        assert out.returncode == 0, out.stderr
        assert f"cli{i} 0" in out.stdout and f"END RequestId: {rid}" in out.stdout, (i, out.stdout)
    r = ondol(server, "logs", "web", "--request-id", "00000000-0000-0000-0000-000000000000", cwd=app)
    assert r.returncode != 0 and "no log lines for request 00000000-0000-0000-0000-000000000000" in r.stderr, r.stderr
