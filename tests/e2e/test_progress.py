"""`ondol deploy` shows progress on a terminal and plain lines otherwise."""
import re
import shutil
import subprocess

from conftest import BIN, ROOT


def test_deploy_progress_on_a_terminal_and_plain_in_a_pipe(server, tmp_path):
    app = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", app)
    # `script` gives the command a terminal, as a person at a shell has.
    tty = subprocess.run(["script", "-qec", f"{BIN} deploy {app} --endpoint {server.api}", "/dev/null"],
                         capture_output=True, text=True, timeout=120)
    assert tty.returncode == 0, tty.stdout + tty.stderr
    assert "\x1b[" in tty.stdout, "a spinner redraws the line on a terminal"
    assert "shop-hello: created" in tty.stdout
    plain = server.cli("deploy", str(app))
    assert "\x1b[" not in plain.stdout + plain.stderr, "no terminal codes in a pipe"
    assert "shop-hello: unchanged (version 1)" in plain.stdout, plain.stdout
    # Every step of the first deploy has its own line with the time it took.
    for step in ("shop-hello: packaged", "shop-hello: created", "shop-hello: version 1 published",
                 "shop-hello: version 1 warm", "shop-hello: version 1 serves"):
        line = next((ln for ln in tty.stdout.splitlines() if step in ln), None)
        assert line is not None and re.search(r"\(\d+ ms\)", line), (step, tty.stdout)
