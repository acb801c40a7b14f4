"""The papercuts a new user met (issue 17): tracebacks readable in `ondol logs` with
the user's file names, `dlq` taking ids one way and asking before a purge, every
CLI argument with a help text, a `$default` clash naming the other app, the deploy
summary showing a route's host, `ondol dev` showing the function's output."""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from conftest import BIN, wait_until


def write_app(root, name, toml, files):
    app = root / name
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    (app / "ondol.toml").write_text(f'app = "{name}"\n' + toml)
    return app


# --- tracebacks --------------------------------------------------------------

PY_RAISES = {
    "fn/app.py": "import lib\n\ndef handler(event, context):\n    return lib.fail(event)\n",
    "fn/lib.py": "def fail(event):\n    raise ValueError('bad input: ' + str(event.get('n')))\n",
}
NODE_RAISES = {
    "fn/index.js": "const lib = require('./lib');\n"
                   "exports.handler = async (event) => { console.error(lib.make()); return 1; };\n",
    "fn/lib.js": "exports.make = () => new Error('made in lib');\n",
}


def logs_of(server, app, function, want):
    """`ondol logs` output, once it holds `want`."""
    return wait_until(lambda: (lambda out: out if want in out else None)(
        server.cli("logs", function, "--dir", str(app)).stdout), timeout=15, what=want)


@pytest.mark.host_files
def test_python_traceback_is_one_record_on_several_lines_with_task_paths(server, tmp_path):
    app = write_app(tmp_path, "tb", '[functions.fn]\nruntime = "python3.11"\n'
                    'handler = "app.handler"\ncode = "fn"\n', PY_RAISES)
    server.cli("deploy", str(app))
    r = server.invoke("tb-fn", {"n": 7})
    assert r.headers.get("X-Amz-Function-Error") == "Unhandled", r.text
    body = r.json()
    assert body["stackTrace"] and all("/var/task/" in f for f in body["stackTrace"]), body
    out = logs_of(server, app, "fn", "bad input: 7")
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if "[ERROR] ValueError: bad input: 7" in l)
    assert lines[head + 1].strip() == "Traceback (most recent call last):", out
    frames = [l for l in lines[head + 1:head + 8] if l.lstrip().startswith("File ")]
    assert ['File "/var/task/app.py"' in frames[0], 'File "/var/task/lib.py"' in frames[1]] == [True, True], out
    assert all(l.startswith("    ") for l in lines[head + 1:head + 6]), out
    assert str(server.data_dir) not in out and "\r" not in out, out
    # Still one stored record, as CloudWatch keeps it one event.
    stored = [e["line"] for e in server.logs(function="tb-fn") if "bad input" in e["line"]]
    assert len(stored) == 1 and "\rTraceback" in stored[0], stored


@pytest.mark.host_files
def test_node_stack_shows_task_paths_on_several_lines(server, tmp_path):
    app = write_app(tmp_path, "nd", '[functions.fn]\nruntime = "nodejs20.x"\n'
                    'handler = "index.handler"\ncode = "fn"\n', NODE_RAISES)
    server.cli("deploy", str(app))
    assert server.invoke("nd-fn").status_code == 200
    out = logs_of(server, app, "fn", "made in lib")
    assert "/var/task/lib.js:1" in out and "/var/task/index.js:2" in out, out
    assert str(server.data_dir) not in out and "\r" not in out, out
    at = [l for l in out.splitlines() if l.strip().startswith("at ")]
    assert len(at) >= 2 and all(l.startswith("    ") for l in at), out


# --- dlq -------------------------------------------------------------------

def test_dlq_takes_ids_positionally_and_purge_asks(server, tmp_path):
    app = write_app(tmp_path, "dq", '[functions.boom]\nruntime = "python3.11"\n'
                    'handler = "app.handler"\ncode = "fn"\nasync = { maximum_retry_attempts = 0 }\n',
                    {"fn/app.py": "def handler(event, context):\n    raise ValueError('no')\n"})
    server.cli("deploy", str(app))
    c = server.client()
    for _ in range(3):
        c.invoke(FunctionName="dq-boom", InvocationType="Event", Payload=b"{}")
    dlq = lambda: json.loads(server.cli("dlq", "list", "boom", "--json", "--dir", str(app)).stdout)
    letters = wait_until(lambda: (lambda d: d if len(d) == 3 else None)(dlq()), timeout=20, what="3 dead letters")
    ids = [str(l["id"]) for l in letters]
    d = ["--dir", str(app)]

    # One way for every subcommand: a positional ID; --id still works for scripts.
    assert letters[0]["request_id"] in server.cli("dlq", "show", "boom", ids[0], *d).stdout
    assert letters[0]["request_id"] in server.cli("dlq", "show", "boom", "--id", ids[0], *d).stdout
    assert "replayed 1" in server.cli("dlq", "replay", "boom", ids[0], *d).stdout
    wait_until(lambda: len(dlq()) == 3, timeout=20, what="the replayed event back in the dead letters")
    ids = [str(l["id"]) for l in dlq()]
    assert "replayed 1" in server.cli("dlq", "replay", "boom", "--id", ids[0], *d).stdout
    wait_until(lambda: len(dlq()) == 3, timeout=20, what="the replayed event back again")
    assert server.cli("dlq", "replay", "boom", ids[0], "--all", *d, check=False).returncode == 2

    # Purge: without a terminal it refuses unless --yes, and says how many would go.
    r = server.cli("dlq", "purge", "boom", "--all", *d, check=False)
    assert r.returncode != 0 and "3 dead letter" in r.stderr and "--yes" in r.stderr, r
    assert len(dlq()) == 3
    ids = [str(l["id"]) for l in dlq()]
    assert "purged 1" in server.cli("dlq", "purge", "boom", ids[0], "--yes", *d).stdout
    # On a terminal it asks; "n" keeps them.
    out = on_terminal([BIN, "dlq", "purge", "boom", "--endpoint", server.api, *d], b"n\n")
    assert "delete 2 dead letter(s) of dq-boom" in out and "nothing purged" in out, out
    assert len(dlq()) == 2
    out = on_terminal([BIN, "dlq", "purge", "boom", "--endpoint", server.api, *d], b"y\n")
    assert "purged 2" in out, out
    assert dlq() == []


def on_terminal(argv, answer):
    """Runs argv with a pseudo-terminal as stdin and stdout; types `answer` once asked."""
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b""
    deadline = time.time() + 30
    sent = False
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"[y/N]" in out:
            os.write(fd, answer)
            sent = True
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


# --- help texts ----------------------------------------------------------------

def help_sections(path):
    text = subprocess.run([BIN, *path, "--help"], capture_output=True, text=True, timeout=30).stdout
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^(\w[\w ]*):$", line)
        if m:
            cur = out.setdefault(m.group(1), [])
        elif cur is not None and line.strip():
            cur.append(line)
    return out


ARG = re.compile(r"^ {2,6}((?:-\w, )?--?[\w-]+(?:[ =][<\[]\S+)?|[<\[]\S+)\s*(\S.*)?$")


def undocumented(path):
    """Every argument of `ondol PATH... --help` (and its subcommands) with no help text."""
    s = help_sections(path)
    bad = []
    for lines in (s.get("Arguments", []), s.get("Options", [])):
        for i, line in enumerate(lines):
            m = ARG.match(line)
            if not m:
                continue
            # Long help goes on the next line, indented; a bare `[default: x]` is not help.
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if not m.group(2) and not re.match(r"^ {10,}[^\s\[]", nxt):
                bad.append(f"ondol {' '.join(path)}: {m.group(1)}")
    for line in s.get("Commands", []):
        name = line.split()[0]
        if name != "help":
            bad += undocumented([*path, name])
    return bad


def test_every_argument_of_every_subcommand_has_help_text():
    assert "dlq" in str(help_sections([]).get("Commands")), "the walk must reach the subcommands"
    assert undocumented([]) == []


# --- routes ----------------------------------------------------------------

DEFAULT_ROUTE = '''
[functions.web]
runtime = "python3.11"
handler = "app.handler"
code = "fn"

[[routes]]
route = "$default"
function = "web"
'''
HELLO = {"fn/app.py": "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hi'}\n"}


def test_a_default_route_clash_names_the_other_app_and_the_way_out(server, tmp_path):
    server.cli("deploy", str(write_app(tmp_path, "first", DEFAULT_ROUTE, HELLO)))
    r = server.cli("deploy", str(write_app(tmp_path, "second", DEFAULT_ROUTE, HELLO)), check=False)
    assert r.returncode != 0
    err = " ".join(r.stderr.split())
    assert "defined twice" not in err, err
    assert "app first (stage $default)" in err and "routes[0].route is also $default" in err, err
    assert "named stage" in err and "`host`" in err and "remove" in err, err


def test_deploy_summary_prints_a_routes_host(server, tmp_path):
    toml = '''
[functions.web]
runtime = "python3.11"
handler = "app.handler"
code = "fn"

[[routes]]
route = "GET /hi"
function = "web"
host = "api.example.test"

[[routes]]
route = "GET /plain"
function = "web"
'''
    out = server.cli("deploy", str(write_app(tmp_path, "hosted", toml, HELLO))).stdout
    port = server.http.rsplit(":", 1)[1]
    assert f"GET     http://api.example.test:{port}/hi" in out, out
    assert f"GET     {server.http}/plain" in out, out
    r = requests.get(f"{server.http}/hi", headers={"host": "api.example.test"}, timeout=10)
    assert r.status_code == 200 and r.text == "hi", "the printed host is where the route answers"


# --- ondol dev ----------------------------------------------------------------

@pytest.mark.host_files
def test_dev_shows_the_functions_output(tmp_path):
    toml = DEFAULT_ROUTE.replace("$default", "GET /say")
    app = write_app(tmp_path, "devout", toml, {
        "fn/app.py": "def handler(event, context):\n    print('said by the function')\n"
                     "    return {'statusCode': 200, 'body': 'ok'}\n"})
    log = tmp_path / "dev.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([BIN, "dev", str(app), "--data-dir", str(tmp_path / "data"),
                                 "--api", "127.0.0.1:0", "--http", "127.0.0.1:0", "--sandbox", "off"],
                                stdout=f, stderr=subprocess.STDOUT)
    try:
        http = wait_until(lambda: (lambda m: m.group(1) if m else None)(
            re.search(r"HTTP front door listening on (http://\S+)", log.read_text())),
            timeout=60, what="the front door")
        wait_until(lambda: "watching" in log.read_text(), timeout=60, what="the first deploy")
        assert requests.get(f"{http}/say", timeout=30).text == "ok"
        wait_until(lambda: "[devout-web] said by the function" in log.read_text(), timeout=15,
                   what="the function's output in ondol dev's output")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- canary progress -----------------------------------------------------------

def test_a_canary_shows_its_progress_and_the_new_versions_numbers_while_it_holds(server, tmp_path):
    import shutil
    import threading
    from conftest import ROOT
    from test_safe_deploy import with_strategy
    app = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", app)
    server.cli("deploy", str(app))
    with_strategy(app, "canary 50% 12s")
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " (v2)!"))
    stop = threading.Event()

    def load():
        with requests.Session() as s:
            while not stop.is_set():
                s.get(server.http + "/hello/load", timeout=10)

    t = threading.Thread(target=load)
    t.start()
    try:
        out = server.cli("deploy", str(app), timeout=120).stdout
    finally:
        stop.set()
        t.join()
    status = [l for l in out.splitlines() if "step 1/1, 50% on version 2" in l and "s left" in l]
    assert len(status) >= 2, out
    left = [int(re.search(r"(\d+)s left", l).group(1)) for l in status]
    assert left == sorted(left, reverse=True) and left[0] <= 12, left
    assert re.search(r"version 2: \d+ of \d+ failed \(0\.0%\), threshold \d+%", status[-1]), status[-1]
    assert re.search(r"p99 \d+–\d+ ms, threshold", status[-1]), status[-1]

    # On a terminal the same numbers update one line in place: none stays on screen.
    hello.write_text(hello.read_text().replace("(v2)", "(v3)"))
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace("canary 50% 12s", "canary 50% 7s"))
    stop.clear()
    t = threading.Thread(target=load)
    t.start()
    try:
        tty = on_terminal([BIN, "deploy", str(app), "--endpoint", server.api], b"")
    finally:
        stop.set()
        t.join()
    assert "step 1/1, 50% on version 3" in tty and "s left; version 3:" in tty, tty
    kept = [re.split(r"\r|\x1b\[2K", seg)[-1] for seg in tty.split("\r\n")]
    assert any("version 3 serves" in k for k in kept), kept
    assert not [k for k in kept if "s left" in k], kept
