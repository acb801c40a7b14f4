"""A function's network: the host's by default (outbound connections work), or none
at all (`Ondol.Network = "none"`, `network = "none"` in ondol.toml): its own empty
network namespace, where only its Runtime API lives."""
import json
import os
import socket
import threading

import pytest
import requests

from conftest import zip_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")

PROBE = b'''
import json, os, socket
def handler(event, context):
    out = {}
    for name, (host, port) in event["targets"].items():
        try:
            socket.create_connection((host, port), timeout=3).close()
            out[name] = "connected"
        except OSError as e:
            out[name] = type(e).__name__ + ": " + str(e)
    try:
        socket.getaddrinfo("example.com", 443)
        out["dns"] = "resolved"
    except OSError as e:
        out["dns"] = type(e).__name__
    out["interfaces"] = sorted(n for _, n in socket.if_nameindex())
    out["tmp_mb"] = os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize >> 20
    return out
'''


@pytest.fixture
def listener():
    """A TCP service on the host's loopback, standing in for a database."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                s.accept()[0].close()
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield s.getsockname()
    stop.set()
    t.join()
    s.close()


def ask(server, name, targets):
    r = server.invoke(name, {"targets": targets})
    assert r.status_code == 200 and "errorMessage" not in r.json(), r.text
    return r.json()


def test_no_network_reaches_nothing_but_its_runtime_api(server, listener):
    api_port = int(server.api.rsplit(":", 1)[1])
    targets = {"db": list(listener), "api": ["127.0.0.1", api_port], "outside": ["192.0.2.1", 80]}
    server.create("open", "python3.11", zip_bytes=zip_dir(None, {"app.py": PROBE}), timeout=10)
    server.create("closed", "python3.11", zip_bytes=zip_dir(None, {"app.py": PROBE}), timeout=10,
                  ondol={"Network": "none"})
    assert requests.get(f"{server.api}/2015-03-31/functions/closed",
                        timeout=10).json()["Configuration"]["Ondol"]["Network"] == "none"
    opened = ask(server, "open", targets)
    assert opened["db"] == "connected", opened  # the default: functions reach their databases
    closed = ask(server, "closed", targets)
    assert closed["db"].startswith("ConnectionRefusedError"), closed
    assert closed["api"].startswith("ConnectionRefusedError"), closed
    assert closed["outside"].startswith("OSError: [Errno 101]"), closed  # network unreachable
    assert closed["dns"] != "resolved", closed
    assert closed["interfaces"] == ["lo"], closed
    # It still serves invocations, warm and cold, through its own Runtime API.
    assert ask(server, "closed", targets)["interfaces"] == ["lo"]
    server.update_config("closed", Timeout=11)
    assert ask(server, "closed", {})["interfaces"] == ["lo"]


def test_no_network_is_refused_where_it_cannot_be_given(make_server):
    web = make_server()
    body = {"FunctionName": "site", "Runtime": "web", "Handler": "x",
            "Role": "arn:aws:iam::000000000000:role/test",
            "Code": {"ZipFile": ""}, "Ondol": {"Network": "none"},
            "ImageConfig": {"EntryPoint": ["python3", "-m", "http.server"]}}
    import base64
    body["Code"]["ZipFile"] = base64.b64encode(zip_dir(None, {"x": b""})).decode()
    r = requests.post(f"{web.api}/2015-03-31/functions", json=body, timeout=30)
    assert r.status_code == 400 and "web-mode" in r.text, r.text
    body.update(FunctionName="nn", Runtime="python3.11", Handler="app.handler")
    body["Ondol"] = {"Network": "nowhere"}
    r = requests.post(f"{web.api}/2015-03-31/functions", json=body, timeout=30)
    assert r.status_code == 400 and "none" in r.text, r.text
    # Without the sandbox there is no namespace to give: said, not silently ignored.
    off = make_server(args=["--sandbox", "off"])
    body["Ondol"] = {"Network": "none"}
    r = requests.post(f"{off.api}/2015-03-31/functions", json=body, timeout=30)
    if r.status_code == 201:
        r = off.invoke("nn", {})
    assert "no network" in r.text and "sandbox" in r.text, r.text


MANIFEST = '''
app = "net"

[functions.closed]
runtime = "python3.11"
handler = "app.handler"
code = "fn"
network = "none"
ephemeral_storage_mb = 1024

[functions.open]
runtime = "python3.11"
handler = "app.handler"
code = "fn"
'''


def test_the_manifest_sets_network_and_tmp_size(server, tmp_path, listener):
    app = tmp_path / "app"
    (app / "fn").mkdir(parents=True)
    (app / "fn" / "app.py").write_bytes(PROBE)
    (app / "ondol.toml").write_text(MANIFEST)
    server.cli("deploy", str(app), timeout=120)
    targets = {"db": list(listener)}
    closed = ask(server, "net-closed", targets)
    assert closed["db"].startswith("ConnectionRefusedError") and closed["tmp_mb"] == 1024, closed
    opened = ask(server, "net-open", targets)
    assert opened["db"] == "connected" and opened["tmp_mb"] == 512, opened
    conf = server.client().get_function_configuration(FunctionName="net-closed")
    assert conf["EphemeralStorage"] == {"Size": 1024}, conf
    # A wrong value names the file, the key and what it expects.
    (app / "ondol.toml").write_text(MANIFEST.replace('network = "none"', 'network = "off"'))
    r = server.cli("deploy", str(app), check=False, timeout=120)
    assert r.returncode != 0 and "ondol.toml" in r.stderr and "network" in r.stderr, r.stderr
    assert "none" in r.stderr, r.stderr
