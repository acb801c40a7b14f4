"""Backups: `ondol backup` under write load, `ondol restore` into an empty dir gives
back a consistent snapshot (functions, versions, aliases, layers, apps, schedules,
queued events, dead letters), and hostile archives are refused without a write outside."""
import io
import json
import signal
import tarfile
import threading
import time

import pytest
import requests

from conftest import Server, sandbox_args, wait_until, zip_dir

# The sink function tells the test what it received through a file on the host.
pytestmark = pytest.mark.host_files

SINK = '''
import json, os, time
def handler(event, context):
    time.sleep(0.3)
    with open(os.environ["SINK"], "a") as f:
        f.write(json.dumps({"id": event.get("id"), "at": time.time()}) + "\\n")
    return "ok"
'''
FAIL = "def handler(event, context):\n    raise RuntimeError('always')\n"
USES_LAYER = "import libmod\ndef handler(event, context):\n    return libmod.X\n"
APP = '''
app = "shop"

[functions.web]
runtime = "python3.11"
handler = "app.handler"
code = "web"

[[routes]]
route = "GET /hello"
function = "web"

[[schedules]]
name = "nightly"
function = "web"
expression = "cron(0 3 * * ? *)"
'''


def zipped(tmp_path, name, files):
    d = tmp_path / name
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return zip_dir(d)


def sink_lines(path):
    return [json.loads(l) for l in open(path)] if path.exists() else []


class Load:
    """Writers that record when each write was acknowledged."""

    def __init__(self, server, tmp_path):
        self.s, self.c, self.stop = server, server.client(), threading.Event()
        self.code = zipped(tmp_path, "w", {"app.py": "def handler(e, c):\n    return 1\n"})
        self.created, self.published, self.events = [], [], []

    def creates(self):
        i = 0
        while not self.stop.is_set():
            self.s.create(f"w{i}", "python3.11", zip_bytes=self.code)
            self.created.append((f"w{i}", time.time()))
            i += 1

    def publishes(self):
        i = 0
        while not self.stop.is_set():
            self.c.update_function_configuration(FunctionName="pub", Description=f"d{i}")
            wait_until(lambda: self.c.get_function_configuration(FunctionName="pub")["LastUpdateStatus"] == "Successful")
            v = self.c.publish_version(FunctionName="pub")["Version"]
            self.published.append((v, time.time()))
            i += 1

    def sends(self):
        i = 0
        while not self.stop.is_set():
            r = self.c.invoke(FunctionName="sink", InvocationType="Event", Payload=json.dumps({"id": i}))
            assert r["StatusCode"] == 202
            self.events.append((i, time.time()))
            i += 1
            time.sleep(0.02)


def setup_state(s, tmp_path):
    c = s.client()
    s.create("sink", "python3.11", zip_bytes=zipped(tmp_path, "sink", {"app.py": SINK}),
             env={"SINK": str(tmp_path / "sunk")}, timeout=10)
    c.put_function_concurrency(FunctionName="sink", ReservedConcurrentExecutions=1)
    s.create("pub", "python3.11", zip_bytes=zipped(tmp_path, "pub", {"app.py": "def handler(e, c):\n    return 'v'\n"}))
    v1 = c.publish_version(FunctionName="pub")["Version"]
    c.create_alias(FunctionName="pub", Name="live", FunctionVersion=v1)
    s.create("fails", "python3.11", zip_bytes=zipped(tmp_path, "fails", {"app.py": FAIL}))
    c.put_function_event_invoke_config(FunctionName="fails", MaximumRetryAttempts=0)
    c.invoke(FunctionName="fails", InvocationType="Event", Payload=b'{"n": 1}')
    layer = c.publish_layer_version(LayerName="lib", Content={"ZipFile": zipped(
        tmp_path, "layer", {"python/libmod.py": "X = 'from the layer'\n"})}, CompatibleRuntimes=["python3.11"])
    created = c.create_function(FunctionName="layered", Runtime="python3.11", Handler="app.handler",
                                Role="arn:aws:iam::000000000000:role/x", Layers=[layer["LayerVersionArn"]],
                                Code={"ZipFile": zipped(tmp_path, "layered", {"app.py": USES_LAYER})})
    assert created["Layers"]
    app = tmp_path / "app"
    (app / "web").mkdir(parents=True)
    (app / "web" / "app.py").write_text("def handler(e, c):\n    return {'statusCode': 200, 'body': 'hi'}\n")
    (app / "ondol.toml").write_text(APP)
    s.cli("deploy", str(app))
    wait_until(lambda: json.loads(s.cli("dlq", "list", "fails", "--json").stdout), timeout=15, what="a dead letter")


def listing(s):
    c = s.client()
    fns = sorted(f["FunctionName"] for f in c.list_functions(MaxItems=1000)["Functions"])
    return {
        "functions": fns,
        "versions": {f: [(v["Version"], v["CodeSha256"], v.get("Description"))
                         for page in c.get_paginator("list_versions_by_function").paginate(FunctionName=f)
                         for v in page["Versions"]] for f in fns},
        "aliases": {f: [(a["Name"], a["FunctionVersion"]) for a in c.list_aliases(FunctionName=f)["Aliases"]]
                    for f in fns},
        "apps": requests.get(f"{s.api}/ondol/v1/apps", timeout=10).json()["apps"],
        "dlq": json.loads(s.cli("dlq", "list", "fails", "--json").stdout),
    }


def test_backup_under_write_load_then_restore(make_server, tmp_path):
    a = make_server(args=["--async-retry-base", "200ms"])
    setup_state(a, tmp_path)
    before = listing(a)
    load = Load(a, tmp_path)
    threads = [threading.Thread(target=f) for f in (load.creates, load.publishes, load.sends)]
    for t in threads:
        t.start()
    time.sleep(2)
    began = time.time()
    out = tmp_path / "backup.tar"
    r = a.cli("backup", str(out), timeout=120)
    ended = time.time()
    time.sleep(0.5)
    load.stop.set()
    for t in threads:
        t.join()
    # Nothing the old server does after this reaches the restored one.
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    assert "backed up" in r.stdout, r.stdout

    target = tmp_path / "restored"
    from conftest import BIN
    import subprocess
    res = subprocess.run([BIN, "restore", str(out), "--data-dir", str(target)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    restarted = time.time()
    b = make_server(data_dir=target, args=["--async-retry-base", "200ms"])
    got = listing(b)

    names = set(got["functions"])
    acked = {n for n, t in load.created if t < began}
    assert acked <= names, sorted(acked - names)
    assert names <= {n for n, _ in load.created} | {"sink", "pub", "fails", "layered", "shop-web"}
    versions = [v for v, _, _ in got["versions"]["pub"] if v != "$LATEST"]
    assert {v for v, t in load.published if t < began} <= set(versions)
    assert set(versions) <= {"1"} | {v for v, _ in load.published}
    assert ("live", "1") in got["aliases"]["pub"]
    # Every restored version has its code: it answers.
    c = b.client()
    for v in versions[-3:]:
        assert c.invoke(FunctionName="pub", Qualifier=v)["StatusCode"] == 200
    assert json.loads(c.invoke(FunctionName="layered")["Payload"].read()) == "from the layer"
    assert got["apps"] == before["apps"] and any(x["app"] == "shop" for x in got["apps"]), got["apps"]
    assert got["dlq"] == before["dlq"]
    assert requests.get(f"{b.http}/hello", timeout=30).text == "hi"
    assert "shop-nightly" in b.cli("schedules").stdout or "nightly" in b.cli("schedules").stdout
    assert len(got["dlq"]) == 1 and got["dlq"][0]["attempts"] == 1
    # Every event acknowledged before the backup began is delivered, some by the new server.
    sent = {i for i, t in load.events if t < began}
    sunk = wait_until(lambda: (l := sink_lines(tmp_path / "sunk")) and sent <= {x["id"] for x in l} and l,
                      timeout=60, what="the queued events")
    assert any(x["at"] > restarted for x in sunk), "no queued event was left for the restored server"
    assert ended > began


def tar_of(members, manifest=None):
    """A tar with `manifest.json` first (listing `manifest` or the members) then the members."""
    import hashlib
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        listed = manifest if manifest is not None else [
            {"path": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d, _ in members]
        m = json.dumps({"format": 1, "ondol_version": "0.1.0", "schema_version": 1, "created_ms": 0,
                        "functions": 0, "members": listed}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(m)
        t.addfile(info, io.BytesIO(m))
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc"
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "huge", "checksum", "unlisted"])
def test_hostile_archives_are_refused_without_writing_outside(tmp_path, case):
    import hashlib
    import subprocess
    from conftest import BIN
    sha = "a" * 64
    good = [("ondol.db", b"x" * 10, "file")]
    members, manifest = {
        "dotdot": ([("../escaped", b"pwned", "file")], None),
        "absolute": ([(str(tmp_path / "escaped"), b"pwned", "file")], None),
        "symlink": ([(f"blobs/{sha}.zip", b"", "symlink")], None),
        "huge": (good, [{"path": f"blobs/{sha}.zip", "size": 1 << 40, "sha256": sha}]),
        "checksum": (good, [{"path": "ondol.db", "size": 10, "sha256": hashlib.sha256(b"y" * 10).hexdigest()}]),
        "unlisted": (good + [("ondol.db", b"z" * 10, "file")], None),
    }[case]
    archive = tmp_path / "evil.tar"
    archive.write_bytes(tar_of(members, manifest))
    target = tmp_path / "target"
    r = subprocess.run([BIN, "restore", str(archive), "--data-dir", str(target)], capture_output=True, text=True)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "member" in r.stderr, r.stderr
    assert not (tmp_path / "escaped").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar", "target"] or not target.exists()
    assert not target.exists() or list(target.iterdir()) == []


def test_restore_refuses_a_data_dir_that_is_not_empty(server, tmp_path):
    out = tmp_path / "b.tar"
    server.cli("backup", str(out))
    from conftest import BIN
    import subprocess
    r = subprocess.run([BIN, "restore", str(out), "--data-dir", str(server.data_dir)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"the data dir {server.data_dir} is not empty" in r.stderr, r.stderr
