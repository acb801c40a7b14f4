"""The Debian package, as an operator installs it: built with cargo-deb from the
binary under test, its contents and maintainer scripts checked, installed for real
with dpkg, its systemd unit verified with `systemd-analyze verify`, the unit's
ExecStart run (with the unit's environment) to deploy and invoke a function that
must find itself sandboxed, then purged.

systemd is not PID 1 on the test machines, so the unit's command line is run under
systemd's default PATH and the unit's Environment= lines instead of `systemctl start`.
Needs root, dpkg and cargo-deb (scripts/test.sh installs it); skipped otherwise.
"""
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import boto3
import botocore.config
import pytest

from conftest import BIN, FUNCTIONS, zip_dir

ROOT = Path(__file__).resolve().parents[2]
UNIT = Path("/usr/lib/systemd/system/ondol.service")
DATA = Path("/var/lib/ondol")
# systemd's default PATH for services: no pyenv shims, no ~/.cargo.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dpkg") or not shutil.which("cargo-deb"),
    reason="installs a .deb: needs root, dpkg and cargo-deb (scripts/test.sh installs it)",
)


def purge():
    subprocess.run(["dpkg", "--purge", "ondol"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The package, from the dev build the suite tests (a release build would add
    minutes to CI for the same files)."""
    out = tmp_path_factory.mktemp("deb")
    assert Path(BIN).resolve() == (ROOT / "target/debug/ondol").resolve(), \
        "the .deb packages target/debug/ondol: set ONDOL_BIN to it"
    r = subprocess.run(
        ["cargo", "deb", "-p", "ondol", "--no-build", "--profile", "dev", "--fast", "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    [path] = out.glob("ondol_*.deb")
    yield path
    shutil.rmtree(out, ignore_errors=True)


def existing_install():
    """A real ondol install on this machine, which purging would destroy."""
    dpkg = subprocess.run(["dpkg", "-s", "ondol"], capture_output=True, text=True)
    return dpkg.returncode == 0 or DATA.exists() or Path("/etc/ondol").exists()


@pytest.fixture(scope="module")
def installed(deb):
    if existing_install():
        pytest.skip("ondol is installed here (or /var/lib/ondol exists): not purging it")
    r = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    yield deb
    purge()


def test_package_holds_the_binary_the_unit_and_the_maintainer_scripts(deb):
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    files = {line.split()[-1]: line.split()[0] for line in listing.splitlines()}
    assert files["./usr/bin/ondol"] == "-rwxr-xr-x"
    assert files["./usr/lib/systemd/system/ondol.service"] == "-rw-r--r--"
    assert "./usr/share/doc/ondol/operations.md" in files
    # The commented config file: the operator's (a conffile), readable by root only.
    assert files["./etc/ondol/ondol.toml"] == "-rw-------"
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"^ Package: ondol$", info, re.M)
    assert re.search(r"^ Depends: .*libc6", info, re.M)
    for script in ("postinst", "postrm"):
        assert re.search(rf"\d+ bytes,\s+\d+ lines\s+\*\s+{script}\s", info), info
    conffiles = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True,
                               text=True, check=True).stdout
    assert "/etc/ondol/ondol.toml" in conffiles.split()
    control = subprocess.run(["dpkg-deb", "-I", str(deb), "postinst"], capture_output=True,
                             text=True, check=True).stdout
    assert "useradd --system" in control and "deb-systemd-helper enable ondol.service" in control
    # An upgrade reloads (a takeover), never stops and restarts the service.
    assert "deb-systemd-invoke reload ondol.service" in control
    assert "deb-systemd-invoke restart" not in control



def test_packaged_binary_is_stripped(deb, tmp_path):
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    sections = subprocess.run(["readelf", "-S", "-W", str(tmp_path / "usr/bin/ondol")],
                              capture_output=True, text=True, check=True).stdout
    assert ".text" in sections and ".symtab" not in sections and ".debug_info" not in sections


def test_install_creates_the_user_the_data_dir_and_a_unit_that_verifies(installed, tmp_path):
    user = pwd.getpwnam("ondol")
    assert user.pw_uid < 1000, "a system user"
    assert user.pw_dir == str(DATA) and user.pw_shell.endswith("nologin")
    st = DATA.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, user.pw_gid, 0o750)
    conf = Path("/etc/ondol").stat()
    assert (conf.st_uid, conf.st_gid, conf.st_mode & 0o7777) == (0, user.pw_gid, 0o750)
    assert os.access("/usr/bin/ondol", os.X_OK)
    unit = UNIT.read_text()
    assert not re.search(r"^User=", unit, re.M), "root: the sandbox needs it"
    for line in ("Environment=ONDOL_SANDBOX=require", "Type=notify", "NotifyAccess=all", "ExecReload=/bin/kill -HUP $MAINPID", "Delegate=yes", "ExecStart=/usr/bin/ondol serve --data-dir /var/lib/ondol",
                 "ProtectSystem=strict", "ReadWritePaths=/var/lib/ondol", "ProtectHome=true",
                 "PrivateTmp=true", "NoNewPrivileges=true", "Restart=on-failure",
                 "LimitNOFILE=65536"):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line

    def verify(path):
        r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    rc, out = verify(UNIT)
    assert rc == 0 and "ondol.service" not in out, out
    # The check above can fail: a misspelt key in a copy is reported.
    broken = tmp_path / "ondol.service"
    broken.write_text(unit.replace("ProtectSystem=", "ProtectSystm="))
    assert "Unknown key 'ProtectSystm'" in verify(broken)[1]


def exec_start():
    line = re.search(r"^ExecStart=(.+)$", UNIT.read_text(), re.M).group(1)
    return shlex.split(line)


WHOAMI = """import os

def handler(event, context):
    try:
        open("/var/lib/ondol/ondol.db", "rb").close()
        store = "readable"
    except OSError as e:
        store = type(e).__name__
    return {"event": event, "uid": os.getuid(), "store": store}
"""


def test_the_units_command_serves_functions_sandboxed_never_as_the_server(installed, tmp_path):
    log_path = tmp_path / "serve.log"
    env = ["env", "-i", f"PATH={SYSTEMD_PATH}"] + [
        line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
        if line.startswith("Environment=")]
    # Ephemeral ports: other suites may hold 9000/8080 on this machine.
    argv = [*env, *exec_start(), "--api", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    with open(log_path, "w") as log:
        # From / as systemd does: the data dir is the unit's, not the cwd's.
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd="/")
    try:
        api = wait_for_api(proc, log_path)
        c = boto3.client("lambda", endpoint_url=api, region_name="us-east-1",
                         aws_access_key_id="test", aws_secret_access_key="test",
                         config=botocore.config.Config(retries={"total_max_attempts": 1},
                                                       read_timeout=60))
        fn = tmp_path / "whoami"
        fn.mkdir()
        (fn / "app.py").write_text(WHOAMI)
        c.create_function(FunctionName="deb-whoami", Runtime="python3.11",
                          Role="arn:aws:iam::000000000000:role/r", Handler="app.handler",
                          Code={"ZipFile": zip_dir(fn)})
        r = c.invoke(FunctionName="deb-whoami", Payload=b'{"from": "deb"}')
        assert r["StatusCode"] == 200 and "FunctionError" not in r, log_path.read_text()
        body = json.loads(r["Payload"].read())
        assert body["event"] == {"from": "deb"}
        # The sandbox's own uid: not root (the server), not the ondol group's user,
        # and the server's store is out of its sight.
        assert body["uid"] not in (0, pwd.getpwnam("ondol").pw_uid), body
        assert body["store"] != "readable", body
        # Its state is in the unit's data dir (0750 root:ondol), written by root.
        assert (DATA / "ondol.db").stat().st_uid == 0
        assert not Path("/.ondol").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log_path.read_text()


def children(pid):
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for_api(proc, log_path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log_path.read_text()
        m = re.search(r"management API listening on (http://\S+)", text)
        if m and "HTTP front door listening" in text and "ready" in text:
            return m.group(1)
        assert proc.poll() is None, f"ondol exited early:\n{text}"
        time.sleep(0.05)
    raise AssertionError(f"ondol did not start:\n{log_path.read_text()}")


def test_purge_removes_the_user_and_the_data_dir(installed):
    subprocess.run(["dpkg", "--purge", "ondol"], capture_output=True, text=True, check=True)
    assert not Path("/usr/bin/ondol").exists() and not UNIT.exists()
    assert not DATA.exists() and not Path("/etc/ondol").exists()
    with pytest.raises(KeyError):
        pwd.getpwnam("ondol")
