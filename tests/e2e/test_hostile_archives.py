"""Hostile code archives, uploaded with boto3 to a real server: each is refused with
400 InvalidParameterValueException naming the entry, nothing lands outside the data
dir, and the server's memory stays small. A well-formed archive with internal
symlinks still deploys and runs."""
import io
from contextlib import nullcontext
import struct
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest

ROLE = "arn:aws:iam::000000000000:role/test"
LINK = 0o120777
APP = b"def handler(event, context):\n    return {'ok': True}\n"


def archive(*entries):
    """A zip of (name, mode, data) entries, duplicates allowed, via zipfile."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, mode, data in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            dup = pytest.warns(UserWarning) if name in z.namelist() else nullcontext()
            with dup:
                z.writestr(info, data)
    return buf.getvalue()


def refused(client, code, name="hostile"):
    """Creates a function from `code`; expects the 400 and returns its message."""
    with pytest.raises(client.exceptions.InvalidParameterValueException) as e:
        client.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                               Handler="app.handler", Code={"ZipFile": code})
    return str(e.value)


def rss_peak_mb(server):
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    kb = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:"))
    return kb / 1024


def huge_link_target_zip(size=1 << 30):
    """One symlink entry whose target inflates to `size` bytes of 'a', in ~1 MB.
    Deflate blocks after a full flush do not depend on what came before, so one
    compressed MiB is repeated instead of compressing a GiB."""
    chunk = b"a" * (1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    data = unit * (size >> 20) + c.flush()
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(chunk, crc)
    name = b"huge-link"
    sizes = struct.pack("<III", crc, len(data), size)
    local = b"PK\x03\x04" + struct.pack("<HHHHH", 20, 0, 8, 0, 0x21) + sizes
    local += struct.pack("<HH", len(name), 0) + name
    central = b"PK\x01\x02" + struct.pack("<HHHHHH", 0x0314, 20, 0, 8, 0, 0x21) + sizes
    central += struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, LINK << 16, 0) + name
    start = len(local) + len(data)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), start, 0)
    return local + data + central + end


def test_the_link_chain_cannot_write_outside_the_data_dir(server):
    c = server.client()
    marker = f"ondol-pwn-{uuid.uuid4().hex}"
    deep = "/".join(f"p{i}" for i in range(1, 17))
    # `l` climbs back to the code root; `e`, judged as if under p1..p16/l, climbs
    # 17 more from the root, past `/`; the file then lands in /tmp.
    code = archive(
        ("app.py", 0o100644, APP),
        (f"{deep}/l", LINK, "/".join([".."] * 16)),
        (f"{deep}/l/e", LINK, "/".join([".."] * 17)),
        (f"{deep}/l/e/tmp/{marker}/PWNED.txt", 0o100644, b"pwned"),
    )
    try:
        msg = refused(c, code)
        assert f"'{deep}/l/e'" in msg and "symlink" in msg, msg
        assert not Path("/tmp", marker).exists()
        assert not list(server.data_dir.parent.rglob("PWNED.txt"))
        # The same archive as an update of a working function: refused, old code serves.
        c.create_function(FunctionName="ok", Runtime="python3.11", Role=ROLE,
                          Handler="app.handler", Code={"ZipFile": archive(("app.py", 0o100644, APP))})
        with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
            c.update_function_code(FunctionName="ok", ZipFile=code)
        assert f"'{deep}/l/e'" in str(e.value)
        assert not Path("/tmp", marker).exists()
        r = c.invoke(FunctionName="ok", Payload=b"{}")
        assert r["StatusCode"] == 200 and b'"ok": true' in r["Payload"].read()
    finally:
        if Path("/tmp", marker).exists():
            (Path("/tmp", marker) / "PWNED.txt").unlink(missing_ok=True)
            Path("/tmp", marker).rmdir()


def test_a_gigabyte_link_target_is_refused_in_little_memory(server):
    c = server.client()
    code = huge_link_target_zip()
    assert len(code) < 2 * 1024 * 1024
    msg = refused(c, code)
    assert "'huge-link'" in msg and "4095 bytes" in msg, msg
    assert server.proc.poll() is None
    peak = rss_peak_mb(server)
    assert peak < 200, f"server peaked at {peak:.0f} MB"


def test_malformed_archives_get_400_naming_the_entry(server):
    c = server.client()
    cases = [
        ([("x", 0o100644, b"1"), ("x/y", 0o100644, b"2")], "'x/y'", "which is a file"),
        ([("x/", 0o040755, b""), ("x", 0o100644, b"1")], "'x'", "both a directory"),
        ([("l", LINK, "a" * 5000)], "'l'", "over 4095 bytes"),
        ([("deep/" + "n" * 300, 0o100644, b"")], "n" * 100, "300 bytes"),
        ([("fifo", 0o010644, b"")], "'fifo'", "FIFO"),
        ([("dev", 0o020644, b"")], "'dev'", "device"),
        ([("sock", 0o140644, b"")], "'sock'", "socket"),
        ([("a", 0o100644, b"1"), ("a", 0o100644, b"2")], "'a'", "twice"),
        ([("a/b", 0o100644, b"1"), ("a//b", 0o100644, b"2")], "'a//b'", "twice"),
        ([("b", 0o100644, b"1"), ("./b", 0o100644, b"2")], "'./b'", "twice"),
        ([("up", LINK, "../../etc")], "'up'", "outside"),
    ]
    for i, (entries, entry, rule) in enumerate(cases):
        msg = refused(c, archive(("app.py", 0o100644, APP), *entries), name=f"bad{i}")
        assert entry in msg and rule in msg, (entries[-1][0], msg)
    assert c.list_functions()["Functions"] == []


def test_archive_with_internal_symlinks_deploys_and_runs(server):
    c = server.client()
    app = (b"import os\nHERE = os.path.dirname(os.path.abspath(__file__))\n"
           b"def handler(event, context):\n"
           b"    with open(os.path.join(HERE, 'lib', 'data.txt')) as f:\n"
           b"        return {'data': f.read(), 'linked': os.path.islink(os.path.join(HERE, 'lib'))}\n")
    code = archive(
        ("app.py", 0o100644, app),
        ("vendor/", 0o040755, b""),
        ("vendor/lib/data.txt", 0o100644, b"through the link"),
        ("lib", LINK, "vendor/lib"),
        ("vendor/lib/again", LINK, "../../lib/data.txt"),
    )
    c.create_function(FunctionName="links", Runtime="python3.11", Role=ROLE,
                      Handler="app.handler", Code={"ZipFile": code})
    r = c.invoke(FunctionName="links", Payload=b"{}")
    assert r["StatusCode"] == 200
    assert r["Payload"].read() == b'{"data": "through the link", "linked": true}'
