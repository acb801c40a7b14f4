"""HTTPS on the front door: certificates from a real ACME server (Debian's Pebble,
with pebble-challtestsrv as its DNS), curl over HTTP/2 and HTTP/1.1 trusting
Pebble's root, bring-your-own certificates, redirects, HSTS, `ondol domains`,
and hostile TLS clients."""
import datetime
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import FUNCTIONS, wait_until

pytestmark = pytest.mark.skipif(
    not shutil.which("pebble") or not shutil.which("curl"),
    reason="needs pebble and pebble-challtestsrv (apt-get install pebble) and curl")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(names, issuer=None, ca=False):
    """A key and certificate for `names`, signed by `issuer` (cert, key) or self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer[0].subject if issuer else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        sans = [x509.IPAddress(__import__("ipaddress").ip_address(n)) if n[0].isdigit()
                else x509.DNSName(n) for n in names]
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = b.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


def write_pem(path, cert, key=None):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return path


class Pebble:
    """Pebble validating on `http_port` / `tls_port`, resolving names through
    pebble-challtestsrv (every name is 127.0.0.1 unless set otherwise)."""

    def __init__(self, tmp, http_port, tls_port, validity=None):
        self.tmp = tmp
        ca = make_cert(["pebble test ca"], ca=True)
        leaf = make_cert(["localhost", "127.0.0.1"], issuer=ca)
        self.ca = write_pem(tmp / "pebble-ca.pem", ca[0])
        write_pem(tmp / "pebble-tls.pem", *leaf)
        self.port, self.mgmt = free_port(), free_port()
        self.dns, self.dns_mgmt = free_port(), free_port()
        cfg = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt}",
            "certificate": str(tmp / "pebble-tls.pem"), "privateKey": str(tmp / "pebble-tls.key"),
            "httpPort": http_port, "tlsPort": tls_port, "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}
        if validity:
            cfg["pebble"]["certificateValidityPeriod"] = validity
        (tmp / "pebble.json").write_text(json.dumps(cfg))
        self.logs = []
        self.dnssrv = self._spawn("challtestsrv", [
            "pebble-challtestsrv", "-dns01", f"127.0.0.1:{self.dns}", "-http01", "",
            "-https01", "", "-tlsalpn01", "", "-management", f"127.0.0.1:{self.dns_mgmt}",
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                   PEBBLE_AUTHZREUSE="0")
        self.proc = self._spawn("pebble", [
            "pebble", "-config", str(tmp / "pebble.json"),
            "-dnsserver", f"127.0.0.1:{self.dns}"], env)
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        wait_until(self._up, timeout=20, what="pebble up")
        root = requests.get(f"https://127.0.0.1:{self.mgmt}/roots/0", verify=str(self.ca), timeout=5)
        self.root = tmp / "pebble-root.pem"
        self.root.write_text(root.text)

    def _spawn(self, name, argv, env=None):
        log = open(self.tmp / f"{name}.log", "w")
        self.logs.append(log)
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def _up(self):
        try:
            return requests.get(self.directory, verify=str(self.ca), timeout=2).ok
        except requests.RequestException:
            return False

    def set_address(self, host, ip):
        r = requests.post(f"http://127.0.0.1:{self.dns_mgmt}/add-a",
                          json={"host": host, "addresses": [ip]}, timeout=5)
        assert r.ok, r.text

    def args(self, *more):
        return ["--acme-directory", self.directory, "--acme-ca", str(self.ca), *more]

    def stop(self):
        for p in (self.proc, self.dnssrv):
            p.terminate()
            p.wait(10)


@pytest.fixture
def make_pebble(tmp_path):
    made = []

    def make(http_port, tls_port, validity=None):
        p = Pebble(tmp_path, http_port, tls_port, validity)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


APP = '''app = "tlsapp"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"
'''


def deploy(server, tmp_path, hosts):
    d = tmp_path / "app"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(FUNCTIONS / "py_hello", d / "hello")
    routes = "".join(f'\n[[routes]]\nroute = "$default"\nfunction = "hello"\nhost = "{h}"\n'
                     for h in hosts)
    (d / "ondol.toml").write_text(APP + routes)
    server.cli("deploy", str(d))


def domains(server):
    r = requests.get(f"{server.api}/ondol/v1/domains", timeout=30)
    assert r.status_code == 200, r.text
    return {d["host"]: d for d in r.json()["Domains"]}


def status_of(server, host, want):
    d = domains(server).get(host)
    return d if d and d["certificate"]["status"] == want else None


def curl(url, host, port, cacert, *flags):
    """curl as a user would, resolving `host` to 127.0.0.1; returns (version, status, body)."""
    r = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--resolve", f"{host}:{port}:127.0.0.1",
         "--cacert", str(cacert), *flags, "-o", "-", "-w", "\n%{http_version} %{http_code}", url],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition("\n")
    version, code = tail.split()
    return version, int(code), body


def serving_cert(port, host, cafile):
    """The certificate the server presents for `host` (verified against `cafile`)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            return x509.load_der_x509_certificate(s.getpeercert(binary_form=True))


def start(make_server, pebble, http, https, *more, data_dir=None):
    return make_server(data_dir=data_dir, args=[
        "--http", f"127.0.0.1:{http}", "--https", f"127.0.0.1:{https}",
        *(pebble.args() if pebble else []), *more])


def test_acme_issues_for_two_hosts_served_over_http2_and_http11(make_server, make_pebble, tmp_path):
    http, https = free_port(), free_port()
    pebble = make_pebble(http, https)
    server = start(make_server, pebble, http, https)
    deploy(server, tmp_path, ["a.ondol.test", "b.ondol.test"])
    for host in ("a.ondol.test", "b.ondol.test"):
        d = wait_until(lambda: status_of(server, host, "issued"), timeout=60, what=f"{host} issued")
        assert d["certificate"]["source"] == "acme" and d["certificate"]["renews"], d
        v, code, body = curl(f"https://{host}:{https}/hi", host, https, pebble.root, "--http2")
        assert (v, code) == ("2", 200), body
        ev = json.loads(body)["event"]
        assert ev["requestContext"]["http"]["protocol"] == "HTTP/2.0"
        assert ev["requestContext"]["domainName"] == host
        v, code, body = curl(f"https://{host}:{https}/up", host, https, pebble.root, "--http2",
                             "--data-binary", "x" * 100_000)
        assert (v, code) == ("2", 200) and json.loads(body)["event"]["body"] == "x" * 100_000
        v, code, body = curl(f"https://{host}:{https}/hi", host, https, pebble.root, "--http1.1")
        assert (v, code) == ("1.1", 200), body
        assert json.loads(body)["event"]["requestContext"]["http"]["protocol"] == "HTTP/1.1"
    # Each host has its own certificate, chosen by SNI.
    a = serving_cert(https, "a.ondol.test", pebble.root)
    b = serving_cert(https, "b.ondol.test", pebble.root)
    assert a.serial_number != b.serial_number
    names = a.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["a.ondol.test"]
    # Plain HTTP for a host with a certificate is sent to HTTPS, keeping the method.
    r = requests.post(f"http://127.0.0.1:{http}/x?y=1", headers={"Host": "a.ondol.test"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["location"] == f"https://a.ondol.test:{https}/x?y=1"
    # Keys and the account are the owner's only.
    tls = server.data_dir / "tls"
    for f in [tls / "account.json", *sorted((tls / "certs").iterdir())]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_http01_certificate_is_reused_after_restart(make_server, make_pebble, tmp_path):
    http, https = free_port(), free_port()
    pebble = make_pebble(http, https)
    server = start(make_server, pebble, http, https, "--acme-challenge", "http-01")
    deploy(server, tmp_path, ["c.ondol.test"])
    wait_until(lambda: status_of(server, "c.ondol.test", "issued"), timeout=60, what="issued")
    first = serving_cert(https, "c.ondol.test", pebble.root)
    assert "ordering a certificate" in server.output()
    data = server.data_dir
    server.stop()
    again = start(make_server, pebble, http, https, "--acme-challenge", "http-01", data_dir=data)
    wait_until(lambda: status_of(again, "c.ondol.test", "issued"), timeout=30, what="issued again")
    assert serving_cert(https, "c.ondol.test", pebble.root).serial_number == first.serial_number
    log = again.output()
    assert "reusing the saved certificate" in log and "ordering a certificate" not in log, log
    assert "ACME account created" not in log, "the saved account is used"


def test_certificate_is_renewed_before_it_expires(make_server, make_pebble, tmp_path):
    http, https = free_port(), free_port()
    pebble = make_pebble(http, https, validity=30)
    server = start(make_server, pebble, http, https)
    deploy(server, tmp_path, ["r.ondol.test"])
    d = wait_until(lambda: status_of(server, "r.ondol.test", "issued"), timeout=60, what="issued")
    first = serving_cert(https, "r.ondol.test", pebble.root)
    lifetime = first.not_valid_after_utc - first.not_valid_before_utc
    assert lifetime <= datetime.timedelta(seconds=31), lifetime
    renews = datetime.datetime.fromisoformat(d["certificate"]["renews"])
    assert first.not_valid_before_utc < renews < first.not_valid_after_utc
    second = wait_until(
        lambda: (c := serving_cert(https, "r.ondol.test", pebble.root)).serial_number != first.serial_number and c,
        timeout=40, interval=1, what="a renewed certificate")
    # Renewed while the old one was still valid.
    assert second.not_valid_before_utc < first.not_valid_after_utc
    assert server.output().count("certificate issued and served") >= 2


def test_bring_your_own_certificate_with_redirect_and_hsts(make_server, tmp_path):
    http, https = free_port(), free_port()
    ca = make_cert(["byo test ca"], ca=True)
    cert = write_pem(tmp_path / "byo.pem", *make_cert(["byo.ondol.test"], issuer=ca))
    capem = write_pem(tmp_path / "byo-ca.pem", ca[0])
    server = start(make_server, None, http, https, "--no-acme", "--hsts",
                   "--certificate", f"byo.ondol.test={cert},{cert.with_suffix('.key')}")
    deploy(server, tmp_path, ["byo.ondol.test", "plain.ondol.test"])
    v, code, body = curl(f"https://byo.ondol.test:{https}/p", "byo.ondol.test", https, capem,
                         "--http2", "-D", str(tmp_path / "h"))
    assert (v, code) == ("2", 200), body
    assert "strict-transport-security: max-age=31536000" in (tmp_path / "h").read_text().lower()
    r = requests.get(f"http://127.0.0.1:{http}/p?q=1", headers={"Host": "byo.ondol.test"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["location"] == f"https://byo.ondol.test:{https}/p?q=1"
    # A host without a certificate stays on plain HTTP.
    r = requests.get(f"http://127.0.0.1:{http}/p", headers={"Host": "plain.ondol.test"}, timeout=30)
    assert r.status_code == 200 and "strict-transport-security" not in r.headers
    d = domains(server)
    assert d["byo.ondol.test"]["certificate"]["status"] == "issued"
    assert d["byo.ondol.test"]["certificate"]["source"] == "file"
    assert d["plain.ondol.test"]["certificate"]["status"] == "none"


def test_bring_your_own_certificate_with_a_foreign_key_is_refused_at_start(tmp_path):
    from conftest import BIN
    a = write_pem(tmp_path / "a.pem", *make_cert(["a.ondol.test"]))
    b = write_pem(tmp_path / "b.pem", *make_cert(["b.ondol.test"]))
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "d"), "--api", "127.0.0.1:0",
                        "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
                        "--certificate", f"a.ondol.test={a},{b.with_suffix('.key')}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "does not belong to the certificate" in r.stderr, r.stderr


def test_domains_shows_issued_pending_and_failed_hosts(make_server, make_pebble, tmp_path):
    http, https = free_port(), free_port()
    pebble = make_pebble(http, https)
    # fail: nothing listens at 127.0.0.2; slow: a listener there that never answers.
    pebble.set_address("fail.ondol.test", "127.0.0.2")
    pebble.set_address("slow.ondol.test", "127.0.0.3")
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.3", https))
    tarpit.listen(16)
    try:
        server = start(make_server, pebble, http, https)
        deploy(server, tmp_path, ["a.ondol.test", "fail.ondol.test", "slow.ondol.test"])
        wait_until(lambda: status_of(server, "a.ondol.test", "issued"), timeout=60, what="issued")
        failed = wait_until(lambda: status_of(server, "fail.ondol.test", "failed"), timeout=60,
                            what="failed")["certificate"]
        assert "failed to connect to 127.0.0.2" in failed["error"].lower(), failed
        assert "could not reach this server" in failed["what_to_do"], failed
        assert failed["next_attempt"], failed
        pending = status_of(server, "slow.ondol.test", "pending")
        assert pending, domains(server)
        out = server.cli("domains").stdout
        lines = {l.split()[0]: l for l in out.splitlines() if l.strip() and not l.startswith(" ")}
        assert "issued" in lines["a.ondol.test"] and "pending" in lines["slow.ondol.test"], out
        assert "failed" in lines["fail.ondol.test"], out
        assert "could not reach this server" in out and "does not resolve" in out, out
        assert "TLS: certificate not issued" in server.output()
    finally:
        tarpit.close()


def test_tls_client_that_never_finishes_the_handshake_is_cut(make_server, tmp_path):
    http, https = free_port(), free_port()
    cert = write_pem(tmp_path / "h.pem", *make_cert(["h.ondol.test"]))
    start(make_server, None, http, https, "--no-acme", "--header-timeout", "2s",
          "--certificate", f"h.ondol.test={cert},{cert.with_suffix('.key')}")
    silent = socket.create_connection(("127.0.0.1", https))
    half = socket.create_connection(("127.0.0.1", https))
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's first bytes
    begun = time.time()
    for s in (silent, half):
        s.settimeout(15)
        try:
            assert s.recv(100) == b"", "closed without an answer"
        except ConnectionResetError:
            pass
        s.close()
    took = time.time() - begun
    assert 1.5 < took < 12, f"cut by the handshake timeout after {took:.1f}s"
    # The server still serves.
    assert serving_cert(https, "h.ondol.test", cert).subject


def test_unknown_sni_is_refused_cleanly(make_server, tmp_path):
    http, https = free_port(), free_port()
    cert = write_pem(tmp_path / "k.pem", *make_cert(["k.ondol.test"]))
    start(make_server, None, http, https, "--no-acme",
          "--certificate", f"k.ondol.test={cert},{cert.with_suffix('.key')}")
    for name in ("unknown.ondol.test", None):
        with socket.create_connection(("127.0.0.1", https), timeout=5) as raw:
            c = ssl.create_default_context(cafile=str(cert))
            c.check_hostname = False
            with pytest.raises(ssl.SSLError) as e:
                c.wrap_socket(raw, server_hostname=name).do_handshake()
            assert "alert" in str(e.value).lower() or "unrecognized" in str(e.value).lower(), e.value
    assert serving_cert(https, "k.ondol.test", cert).subject


WEB_APP = '''app = "webtls"

[functions.web]
runtime = "web"
code = "web"
command = ["python3", "server.py"]
readiness_path = "/healthz"

[[routes]]
route = "$default"
function = "web"
'''

WEB_SERVER = '''import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = (self.request_version + " " + self.headers.get("x-forwarded-proto", "")).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def test_web_mode_function_answers_http2_clients(make_server, tmp_path):
    # The hop to a web-mode app is HTTP/1.1: an HTTP/2 request used to be passed on
    # as HTTP/2 and refused by the client (502 Unreachable).
    https = free_port()
    ca = make_cert(["web test ca"], ca=True)
    cert = write_pem(tmp_path / "w.pem", *make_cert(["w.ondol.test"], issuer=ca))
    capem = write_pem(tmp_path / "w-ca.pem", ca[0])
    server = start(make_server, None, free_port(), https, "--no-acme",
                   "--certificate", f"w.ondol.test={cert},{cert.with_suffix('.key')}")
    app = tmp_path / "webapp"
    (app / "web").mkdir(parents=True)
    (app / "web" / "server.py").write_text(WEB_SERVER)
    (app / "ondol.toml").write_text(WEB_APP)
    server.cli("deploy", str(app))
    for flag, want in (("--http2", "2"), ("--http1.1", "1.1")):
        v, code, body = curl(f"https://w.ondol.test:{https}/x", "w.ondol.test", https, capem, flag)
        assert (v, code, body) == (want, 200, "HTTP/1.1 https"), (flag, body)
