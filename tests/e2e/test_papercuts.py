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
