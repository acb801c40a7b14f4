"""`ondol serve --config FILE`: one TOML file for every server setting, under flags and
env; `--print-config`; a bad file's errors; the default data dir; a taken address."""

import os
import re
import shutil
import tempfile
import socket
import subprocess
import time
from pathlib import Path

import boto3
import botocore.config
import pytest
import requests

from conftest import BIN, ROOT, zip_dir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


def clean_env(env=None):
    """The caller's environment without ONDOL_* (they would override the file), plus env."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ONDOL_")}
    return dict(base, **(env or {}))


def run(args, env=None, cwd=None, timeout=30):
    return subprocess.run([BIN, *args], env=clean_env(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def start(args, log_path, env=None, cwd=None):
    log = open(log_path, "w+")
    proc = subprocess.Popen([BIN, *args], stdout=log, stderr=subprocess.STDOUT, env=clean_env(env), cwd=cwd)
    deadline = time.time() + 30
    while time.time() < deadline:
        text = log_path.read_text()
        if re.search(r"\bready\b", text) and "HTTP front door listening" in text:
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"ondol exited early:\n{text}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"ondol did not start:\n{log_path.read_text()}")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def lam(api, key, secret):
    return boto3.client("lambda", endpoint_url=api, region_name="eu-north-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def full_config(tmp_path):
    api, http, metrics = free_port(), free_port(), free_port()
    secret = write(tmp_path / "secret", "cfg-secret-value\n")
    token = write(tmp_path / "token", "cfg-metrics-token\n")
    cfg = write(tmp_path / "ondol.toml", f"""
data_dir = "{tmp_path / 'cfgdata'}"
api = "127.0.0.1:{api}"
http = "127.0.0.1:{http}"
memory_budget_mb = 777
concurrency_limit = 321
unreserved_min = 21
region = "eu-north-1"
account_id = "123456789012"
access_key_id = "cfgkey"
secret_access_key_file = "{secret}"
runtime = ["python3.12=python3.11"]
sandbox = "off"
header-timeout = "1s"
shutdown_grace = "5s"
metrics = "127.0.0.1:{metrics}"
metrics_token_file = "{token}"

[log]   # a table groups keys: these are log_retention_days and log_max_mb
retention_days = 3
max_mb = 64
""")
    return cfg, api, http, metrics


def test_a_server_started_with_only_config_uses_every_setting(tmp_path):
    cfg, api, http, metrics = full_config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = start(["serve", "--config", str(cfg)], tmp_path / "server.log", cwd=elsewhere)
    try:
        log = (tmp_path / "server.log").read_text()
        # The data dir, where it came from, and that it is used.
        assert f"data_dir={tmp_path / 'cfgdata'}" in log and "configuration file read" in log, log
        assert (tmp_path / "cfgdata" / "ondol.db").exists() and not (elsewhere / ".ondol").exists()
        # Both listeners answer on the file's ports; credentials are required.
        unsigned = requests.get(f"http://127.0.0.1:{api}/2015-03-31/functions", timeout=5)
        assert unsigned.status_code == 403, unsigned.text
        c = lam(f"http://127.0.0.1:{api}", "cfgkey", "cfg-secret-value")
        acct = c.get_account_settings()["AccountLimit"]
        assert acct["ConcurrentExecutions"] == 321, acct
        with pytest.raises(Exception) as e:
            lam(f"http://127.0.0.1:{api}", "cfgkey", "wrong").list_functions()
        assert "403" in str(e.value) or "Signature" in str(e.value), e.value
        assert requests.get(f"http://127.0.0.1:{http}/nothing", timeout=5).status_code == 404
        # The runtime mapping and the region/account in ARNs.
        code = zip_dir(None, {"app.py": b"import sys\ndef handler(e, c):\n    return [list(sys.version_info[:2]), c.invoked_function_arn]\n"})
        c.create_function(FunctionName="v312", Runtime="python3.12", Handler="app.handler",
                          Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": code})
        import json
        out = json.loads(c.invoke(FunctionName="v312", Payload=b"{}")["Payload"].read())
        assert out[0] == [3, 11] and out[1].startswith("arn:aws:lambda:eu-north-1:123456789012:"), out
        # The metrics listener and its token (from token_file); the memory budget.
        m = f"http://127.0.0.1:{metrics}/metrics"
        assert requests.get(m, timeout=5).status_code == 401
        prom = requests.get(m, headers={"Authorization": "Bearer cfg-metrics-token"}, timeout=5).text
        budget = re.search(r"^ondol_memory_budget_bytes (\S+)", prom, re.M)
        assert budget and float(budget.group(1)) == 777 * 1024 * 1024, prom[:2000]
        # The header timeout (1s) cuts a client that never finishes its request head.
        s = socket.create_connection(("127.0.0.1", http))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(8)
        t0 = time.time()
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        assert time.time() - t0 < 4, time.time() - t0
        # Every value and its source, as --print-config tells it.
        out = run(["serve", "--config", str(cfg), "--print-config"])
        assert out.returncode == 0, out.stderr
        for key, value in (("log_retention_days", "3"), ("log_max_mb", "64"), ("memory_budget_mb", "777"),
                           ("header_timeout", '"1s"'), ("api", f'"127.0.0.1:{api}"')):
            line = next(l for l in out.stdout.splitlines() if l.startswith(key + " "))
            assert f"= {value} " in line and f"# config {cfg}" in line, line
    finally:
        stop(proc)


def test_flags_and_env_override_the_file(tmp_path):
    port = free_port()
    cfg = write(tmp_path / "ondol.toml", f"""
data_dir = "{tmp_path / 'd'}"
http = "127.0.0.1:1"
api = "127.0.0.1:0"
log_max_mb = 100
memory_budget_mb = 777
sandbox = "off"
""")
    out = run(["serve", "--config", str(cfg), "--print-config", "--http", f"127.0.0.1:{port}"],
              env={"ONDOL_LOG_MAX_MB": "99", "_KEEP": "ONDOL_LOG_MAX_MB"})
    assert out.returncode == 0, out.stderr
    lines = {l.split()[0]: l for l in out.stdout.splitlines() if l and not l.startswith("#")}
    assert f'"127.0.0.1:{port}"' in lines["http"] and "# flag --http" in lines["http"], out.stdout
    assert "99" in lines["log_max_mb"] and "# env ONDOL_LOG_MAX_MB" in lines["log_max_mb"], out.stdout
    assert "777" in lines["memory_budget_mb"] and f"# config {cfg}" in lines["memory_budget_mb"], out.stdout
    assert '"10s"' in lines["header_timeout"] and lines["header_timeout"].endswith("# default"), out.stdout
    # And a real server follows them: the flag's port answers, not the file's.
    proc = start(["serve", "--config", str(cfg), "--http", f"127.0.0.1:{port}"], tmp_path / "s.log")
    try:
        assert requests.get(f"http://127.0.0.1:{port}/x", timeout=5).status_code == 404
    finally:
        stop(proc)


def test_print_config_masks_secrets_and_names_sources(tmp_path):
    secret = write(tmp_path / "secret", "very-secret-1\n")
    cfg = write(tmp_path / "c.toml", f'access_key_id = "k"\nsecret_access_key_file = "{secret}"\n'
                                     f'runtime = ["python3.12=python3.11", "nodejs22.x=nodejs20.x"]\n')
    out = run(["serve", "--print-config"], env={"ONDOL_CONFIG": str(cfg), "ONDOL_METRICS_TOKEN": "tok-2"})
    assert out.returncode == 0, out.stderr
    assert "very-secret-1" not in out.stdout and "tok-2" not in out.stdout, out.stdout
    assert f"(from ONDOL_CONFIG)" in out.stdout.splitlines()[0], out.stdout
    sk = next(l for l in out.stdout.splitlines() if "secret_access_key" in l)
    assert sk.startswith("# secret_access_key") and "********" in sk and f"secret_access_key_file = {secret}" in sk, sk
    mt = next(l for l in out.stdout.splitlines() if "metrics_token" in l)
    assert "********" in mt and "env ONDOL_METRICS_TOKEN" in mt, mt
    rt = next(l for l in out.stdout.splitlines() if l.startswith("runtime "))
    assert '["python3.12=python3.11", "nodejs22.x=nodejs20.x"]' in rt, rt
    # Every flag of serve is listed, set or not.
    help_flags = set(re.findall(r"^\s+--([a-z0-9-]+)", run(["serve", "--help"]).stdout, re.M))
    keys = set(re.findall(r"^#? ?([a-z0-9_]+)\s", out.stdout, re.M))
    missing = {f for f in help_flags - {"help", "config", "print-config"} if f.replace("-", "_") not in keys}
    assert not missing, (missing, out.stdout)


@pytest.mark.parametrize("text,words", [
    ("memory_budget = 5\n", ["unknown key memory_budget", "did you mean memory_budget_mb?"]),
    ("[http]\nheader_timeout = '2s'\n", ["unknown key http.header_timeout", "did you mean"]),
    ("memory_budget_mb = 'lots'\n", ["memory_budget_mb", "expected an integer", '"lots"']),
    ("header_timeout = 5\n", ["header_timeout", "expected a duration"]),
    ("api = ['127.0.0.1:1']\n", ["api", "got an array"]),
    ("no_cgroups = 'yes'\n", ["no_cgroups", "expected a boolean"]),
    ("region = 5\n", ["region", "expected a string, got an integer"]),
    ("sandbox = 'x'\n", ["sandbox", "a value for --sandbox", "expected auto, require or off"]),
    ("runtime = 'python3.12=python3.11'\nruntimes = []\n", ["sets --runtime a second time"]),
])
def test_a_bad_file_names_the_file_the_key_and_what_was_expected(tmp_path, text, words):
    cfg = write(tmp_path / "bad.toml", text)
    out = run(["serve", "--config", str(cfg), "--print-config"])
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert str(cfg) in out.stderr and all(w in out.stderr for w in words), out.stderr


def test_a_secret_others_can_read_is_refused(tmp_path):
    cfg = write(tmp_path / "c.toml", 'access_key_id = "k"\nsecret_access_key = "s"\n', mode=0o644)
    out = run(["serve", "--config", str(cfg), "--print-config"])
    assert out.returncode == 2 and "others can read it" in out.stderr and "chmod 600" in out.stderr, out.stderr
    assert "secret_access_key" in out.stderr, out.stderr
    # The same file, its owner's alone, is accepted; so is a world-readable one without secrets.
    os.chmod(cfg, 0o600)
    assert run(["serve", "--config", str(cfg), "--print-config"]).returncode == 0
    secret = write(tmp_path / "secret", "s\n", mode=0o640)
    cfg2 = write(tmp_path / "c2.toml", f'access_key_id = "k"\nsecret_access_key_file = "{secret}"\n', mode=0o644)
    out = run(["serve", "--config", str(cfg2), "--print-config"])
    assert out.returncode == 2 and str(secret) in out.stderr and "others can read it" in out.stderr, out.stderr


def test_a_missing_config_file_is_an_error(tmp_path):
    out = run(["serve", "--config", str(tmp_path / "nope.toml")])
    assert out.returncode == 2 and "nope.toml" in out.stderr and "does not exist" in out.stderr, out.stderr


def data_dir_line(out):
    return next(l for l in out.stdout.splitlines() if l.startswith("data_dir "))


def test_the_default_data_dir_is_the_same_from_any_directory(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = run(["serve", "--print-config"], cwd=tmp_path / "a")
    two = run(["serve", "--print-config"], cwd=tmp_path / "b")
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    a, b = data_dir_line(one), data_dir_line(two)
    assert a == b and re.search(r'= "/', a) and "# default" in a, (a, b)
    if os.geteuid() == 0:
        assert '"/var/lib/ondol"' in a, a
    # Not root: per user, under XDG_DATA_HOME or ~/.local/share.
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chown(home, 65534, 65534)
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BIN, "serve", "--print-config"]
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}
        out = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert f'"{home}/.local/share/ondol"' in data_dir_line(out), data_dir_line(out)
        env["XDG_DATA_HOME"] = str(home / "xdg")
        out = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, timeout=30)
        assert f'"{home}/xdg/ondol"' in data_dir_line(out), data_dir_line(out)
    # up and dev keep the project's own store (README): ./.ondol
    assert "./.ondol" in run(["up", "--help"]).stdout


def test_an_address_in_use_names_the_flag_and_another_ondol(make_server, tmp_path):
    first = make_server()
    http = first.http.removeprefix("http://")
    for flag, env, addr in (("--http", "ONDOL_HTTP", http), ("--api", "ONDOL_API", first.api.removeprefix("http://"))):
        other = "--api" if flag == "--http" else "--http"
        out = run(["serve", "--data-dir", str(tmp_path / f"other{flag}"), flag, addr, other, "127.0.0.1:0",
                   "--sandbox", "off"])
        assert out.returncode == 2, out.stderr
        err = out.stderr
        assert addr in err and "already in use" in err and "Another ondol" in err, err
        assert flag in err and env in err, err


def test_the_packaged_example_is_valid_with_every_line_uncommented(tmp_path):
    example = (ROOT / "packaging" / "ondol.toml").read_text()
    lines = [l[2:] for l in example.splitlines() if re.match(r"^# [a-z_]+ = ", l)
             and not l.startswith(("# certificate", "# secret_access_key_file", "# metrics_token_file",
                                   "# access_key_id"))]
    cfg = write(tmp_path / "all.toml", "\n".join(lines) + "\n")
    out = run(["serve", "--config", str(cfg), "--print-config"])
    assert out.returncode == 0, out.stderr
    for l in lines:
        key = l.split()[0]
        printed = next(p for p in out.stdout.splitlines() if p.startswith(key + " "))
        assert f"# config {cfg}" in printed, printed


def test_serve_started_from_two_directories_finds_the_same_functions(tmp_path):
    """The default data dir is absolute: a second start elsewhere sees the first's function.
    Run as an unprivileged user with its own HOME, so the host's /var/lib/ondol is left alone."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the server as another user")
    # pytest's tmp dirs are root's alone (0700): the other user works in its own.
    base = Path(tempfile.mkdtemp(prefix="ondol-cfg-"))
    os.chmod(base, 0o755)
    try:
        two_starts(tmp_path, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def two_starts(tmp_path, base):
    home = base / "home"
    for d in (home, base / "a", base / "b"):
        d.mkdir()
        os.chown(d, 65534, 65534)
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    def serve(cwd, log):
        log_path = tmp_path / log
        out = open(log_path, "w")
        proc = subprocess.Popen([*as_nobody, BIN, "serve", "--api", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                 "--sandbox", "off"], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = log_path.read_text()
            m = re.search(r"management API listening on (http://\S+)", text)
            if m and re.search(r"\bready\b", text):
                return proc, m.group(1), text
            assert proc.poll() is None, text
            time.sleep(0.05)
        proc.kill()
        raise AssertionError(log_path.read_text())

    proc, api, log = serve(base / "a", "a.log")
    try:
        assert f"data_dir={home}/.local/share/ondol" in log, log
        lam(api, "test", "test").create_function(
            FunctionName="kept", Runtime="python3.11", Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/x", Code={"ZipFile": zip_dir(None, {"app.py": b"def handler(e, c):\n    return 1\n"})})
    finally:
        stop(proc)
    proc, api, log = serve(base / "b", "b.log")
    try:
        names = [f["FunctionName"] for f in lam(api, "test", "test").list_functions()["Functions"]]
        assert names == ["kept"], names
        assert not (base / "a" / ".ondol").exists() and not (base / "b" / ".ondol").exists()
    finally:
        stop(proc)
