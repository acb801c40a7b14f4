"""The sandbox: a function tries each escape from inside and is refused, and real
functions still work. CI runs as root, where the whole sandbox is in force."""
import json
import os

import pytest
import requests

from conftest import wait_until, zip_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")

# Runs the Python source in the event's "code" and returns what it left in `out`.
PROBE = b'''
import os, json
def handler(event, context):
    out = {}
    exec(event["code"], {"os": os, "json": json, "out": out, "event": event})
    return out
'''


def probe(server, name="probe", env=None, memory=128):
    server.create(name, "python3.11", zip_bytes=zip_dir(None, {"app.py": PROBE}),
                  env=env, memory=memory, timeout=10)


def run(server, code, name="probe", **event):
    r = server.invoke(name, {"code": code, **event})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errorMessage" not in body, body
    return body


def attempt(op):
    """Python source: out["ok"] is what `op` returned, or out["err"] why it failed."""
    return f"""
try:
    out["ok"] = repr({op})
except Exception as e:
    out["err"] = type(e).__name__ + ": " + str(e)
"""


def test_a_function_runs_as_its_own_uid_without_capabilities(server):
    probe(server, "a")
    probe(server, "b")
    code = """
out["uid"] = os.getuid(); out["gid"] = os.getgid(); out["groups"] = os.getgroups()
status = open("/proc/self/status").read().splitlines()
out["caps"] = [l for l in status if l.startswith(("CapEff", "CapPrm", "NoNewPrivs"))]
"""
    a, b = run(server, code, "a"), run(server, code, "b")
    assert a["uid"] != 0 and a["gid"] != 0 and a["groups"] == []
    assert a["uid"] != b["uid"], "each function its own uid"
    assert "CapEff:\t0000000000000000" in a["caps"]
    assert "CapPrm:\t0000000000000000" in a["caps"]
    assert "NoNewPrivs:\t1" in a["caps"]
    server.stop()
    server.start()
    assert run(server, code, "a")["uid"] == a["uid"], "the uid is stable across restarts"


def test_the_server_environment_is_out_of_reach(make_server):
    server = make_server(env={"ONDOL_SPY_SECRET": "hunter2"})
    probe(server)
    out = run(server, "out['ppid'] = os.getppid()"
              + attempt("open(f'/proc/{os.getppid()}/environ','rb').read()"))
    assert "hunter2" not in json.dumps(out)
    # Its parent is its own init, which holds nothing but the function's environment;
    # the server's pid means nothing inside.
    assert out["ppid"] == 1, out
    assert "ONDOL_" not in out["ok"] and "AWS_LAMBDA_FUNCTION_NAME" in out["ok"], out
    out = run(server, attempt(f"open('/proc/{server.proc.pid}/environ','rb').read()"))
    assert "hunter2" not in json.dumps(out) and "err" in out, out


def test_the_data_dir_and_other_code_are_invisible(server):
    probe(server, "victim", env={"SECRET": "s3cr3t-in-store"})
    probe(server)
    data = str(server.data_dir)
    out = run(server, attempt(f"os.listdir({data!r})"))
    assert "err" in out, out
    out = run(server, attempt(f"open({data + '/ondol.db'!r},'rb').read()"))
    assert "err" in out and "s3cr3t" not in json.dumps(out), out
    # Its own code only, read-only at /var/task.
    out = run(server, "out['cwd']=os.getcwd(); out['task']=sorted(os.listdir('/var/task'));"
              + "out['root']=os.environ['LAMBDA_TASK_ROOT']" + attempt("open('/var/task/x','w')"))
    assert out["cwd"] == "/var/task" and out["root"] == "/var/task"
    assert out["task"] == ["app.py"] and "Read-only" in out["err"], out
    # The root holds system directories and its own paths only: no data dir anywhere.
    out = run(server, "out['root']=sorted(os.listdir('/')); out['var']=sorted(os.listdir('/var'))")
    system = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "root", "home", "opt"}
    assert set(out["root"]) - system == {"var", "tmp", "proc", "dev"}, out
    assert out["var"] == ["runtime", "task"], out
    assert run(server, f"out['seen']=os.path.exists({data!r})")["seen"] is False


def test_host_system_files_are_read_only_and_secrets_unreadable(server):
    probe(server)
    assert "err" in run(server, attempt("open('/etc/shadow').read()"))
    for path in ("/usr/ondol-was-here", "/etc/ondol-was-here", "/ondol-was-here"):
        out = run(server, attempt(f"open({path!r},'w')"))
        assert "err" in out, (path, out)
        assert not os.path.exists(path)


def test_host_processes_and_other_functions_are_invisible(server):
    probe(server, "victim", env={"SECRET": "victims-secret"})
    probe(server)
    run(server, "out['x']=1", "victim")  # a warm victim instance
    out = run(server, """
pids = [p for p in os.listdir('/proc') if p.isdigit()]
out['pids'] = len(pids)
out['owners'] = sorted({os.stat(f'/proc/{p}').st_uid for p in pids if os.path.exists(f'/proc/{p}')})
out['uid'] = os.getuid()
out['seen'] = [p for p in ('1', str(os.getppid())) if p in pids]
found = []
for p in pids:
    try:
        found.append(open(f'/proc/{p}/environ','rb').read().decode(errors='replace'))
    except Exception:
        pass
out['environs'] = found
""")
    assert out["owners"] == [out["uid"]], out  # its own processes only
    assert out["pids"] == 2, out  # its init and itself: not the host's, not the victim's
    assert "victims-secret" not in json.dumps(out)


def test_an_instance_has_its_own_pids_and_reaps_its_orphans(server):
    probe(server)
    out = run(server, """
import time
out['pid'], out['ppid'] = os.getpid(), os.getppid()
out['init'] = open('/proc/1/cmdline').read().split('\\0')[0]
# Orphans: children of a child that exits at once, so init inherits them.
child = os.fork()
if child == 0:
    for _ in range(5):
        if os.fork() == 0:
            time.sleep(0.2)
            os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(0.6)
states = {}
for p in os.listdir('/proc'):
    if p.isdigit():
        states[p] = open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0]
out['states'] = states
""")
    assert out["pid"] == 2 and out["ppid"] == 1 and out["init"] == "/var/runtime/init", out
    assert "Z" not in out["states"].values(), out  # no zombies left behind


def start_daemon(server, tag):
    """From inside the probe function: a daemon in its own session named `tag`."""
    run(server, f"""
import subprocess
subprocess.Popen(["/usr/bin/python3", "-c", "import ctypes,time; ctypes.CDLL(None).prctl(15, b'{tag}', 0, 0, 0); time.sleep(120)"],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""")


def test_a_daemon_ends_with_its_instance_by_the_pid_namespace_alone(make_server):
    # No cgroups: only the pid namespace can catch a process that left the group.
    from conftest import wait_until
    server = make_server(env={"ONDOL_NO_CGROUPS": "1"})
    tag = "dmn-" + os.urandom(4).hex()
    probe(server)
    start_daemon(server, tag)
    try:
        wait_until(lambda: host_procs(tag), timeout=10, what="the daemon to start")
        requests.delete(f"{server.api}/2015-03-31/functions/probe", timeout=30)
        wait_until(lambda: not host_procs(tag), timeout=10,
                   what="the daemon to end with its instance")
    finally:
        for pid in host_procs(tag):
            os.kill(pid, 9)


def test_the_server_stops_an_instance_gracefully_through_its_init(server):
    # SIGTERM reaches the runtime (pid 2), not just an init that ignores it.
    probe(server)
    run(server, """
import signal, sys
def bye(*_):
    print("runtime got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
""")
    # A new configuration replaces the pool: its instance is stopped with SIGTERM first.
    server.update_config("probe", Timeout=11)
    from conftest import wait_until
    wait_until(lambda: any("runtime got SIGTERM" in e["line"] for e in server.logs(function="probe")),
               timeout=10, what="the runtime's SIGTERM handler to run")


def test_a_runtime_killed_by_a_signal_is_reported_as_such(server):
    probe(server)
    r = server.invoke("probe", {"code": "os.kill(os.getpid(), 9)"})
    assert r.status_code == 200 and r.headers.get("X-Amz-Function-Error") == "Unhandled", r.text
    assert "signal: killed" in r.json()["errorMessage"], r.text


def test_tmp_is_private_writable_and_capped(server):
    # /tmp is memory (tmpfs): a function needs the memory to fill it.
    probe(server, "a", memory=1024)
    probe(server, "b")
    run(server, "open('/tmp/mine','w').write('a')", "a")
    assert run(server, "out['seen']=os.path.exists('/tmp/mine')", "b")["seen"] is False
    assert run(server, "out['mine']=open('/tmp/mine').read()", "a")["mine"] == "a"
    out = run(server, """
st = os.statvfs('/tmp'); out['cap_mb'] = st.f_blocks * st.f_frsize // (1 << 20)
""" + attempt("[f.write(b'x' * (16 << 20)) for f in [open('/tmp/big','wb')] for _ in range(40)]"), "a", )
    assert out["cap_mb"] == 512, out
    assert "err" in out and "No space" in out["err"], out


def test_node_runs_sandboxed(server):
    # python, awslambdaric, rust and web mode: test_runtimes.py and test_gateway.py run sandboxed.
    server.create("nd", "nodejs20.x", handler="index.handler",
                  zip_bytes=zip_dir(None, {"index.js": b"""
const fs = require('fs');
exports.handler = async () => ({uid: process.getuid(), cwd: process.cwd(),
  shadow: (() => { try { return fs.readFileSync('/etc/shadow', 'utf8'); } catch (e) { return e.code; } })()});
"""}))
    r = server.invoke("nd", {})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["uid"] != 0 and body["cwd"] == "/var/task" and body["shadow"] == "EACCES", body


CONNECT = """
import socket
def ask(hostport, path, method="GET", body=b""):
    host, port = hostport.replace("http://", "").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(f"{method} {path} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Length: {len(body)}\\r\\n"
              f"Content-Type: application/json\\r\\nConnection: close\\r\\n\\r\\n".encode() + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")
"""


def test_the_management_api_refuses_function_code(server):
    probe(server)
    body = json.dumps({"FunctionName": "evil", "Runtime": "python3.11", "Handler": "a.b",
                       "Role": "arn:aws:iam::000000000000:role/r", "Code": {"ZipFile": ""}})
    out = run(server, CONNECT + attempt(
        "ask(event['api'], '/2015-03-31/functions', 'POST', event['body'].encode())"),
        api=server.api, body=body)
    assert "HTTP/1.1 403" in out["ok"] and "may not use the management API" in out["ok"], out
    assert requests.get(f"{server.api}/2015-03-31/functions/evil", timeout=10).status_code == 404
    assert "function code may not use the management API" in server.output()


def test_another_instances_runtime_api_refuses_a_spy(server):
    # A victim that takes a while, so that its next /next is pending.
    probe(server, "victim")
    victim_api = run(server, "out['api']=os.environ['AWS_LAMBDA_RUNTIME_API']", "victim")["api"]
    probe(server, "spy")
    out = run(server, CONNECT + attempt("ask(event['victim'], '/2018-06-01/runtime/invocation/next')"),
              "spy", victim=victim_api)
    assert "ok" not in out or "HTTP/1.1" not in out["ok"], out
    # The victim still gets its own payloads.
    assert run(server, "out['card']=event['card']", "victim", card="5500-0000") == {"card": "5500-0000"}
    # The server's log is written off the request path: wait for the line.
    wait_until(lambda: "Runtime API connection refused" in server.output(), timeout=5,
               what="the refusal in the server log")


ESCAPEE = (b"import ctypes, sys, time\n"
           b"ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)\n"
           b"x = bytearray(300 << 20)\n"
           b"for i in range(0, len(x), 4096): x[i] = 1\n"
           b"time.sleep(60)\n")
# A runtime whose first instruction forks a daemon (own session, own group) that
# wants 300 MB, long before the instance is ready.
ESCAPE_BOOTSTRAP = (b"#!/bin/sh\nsetsid /usr/bin/python3 -c \"$(cat escapee.py)\" \"$(cat tag)\" &\n"
                    b"exec /usr/bin/sleep 30\n")


def host_procs(comm):
    """Live host pids whose name is `comm`, with their RSS in MB."""
    found = {}
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/comm").read().strip() == comm:
                status = dict(l.split(":", 1) for l in open(f"/proc/{p}/status") if ":" in l)
                if status["State"].split()[0] not in ("Z", "X"):
                    found[int(p)] = int(status.get("VmRSS", "0 kB").split()[0]) // 1024
        except (OSError, KeyError):
            pass
    return found


def test_an_early_fork_cannot_escape_the_memory_limit_nor_outlive_the_instance(server):
    import threading
    import time
    from conftest import wait_until
    tag = "esc-" + os.urandom(4).hex()
    server.create("escape", "provided", handler="x", memory=128, ondol={"InitTimeoutMs": 4000},
                  zip_bytes=zip_dir(None, {"bootstrap": ESCAPE_BOOTSTRAP, "escapee.py": ESCAPEE,
                                           "tag": tag.encode()}))
    threading.Thread(target=server.invoke, args=("escape", {}), daemon=True).start()
    try:
        # Long enough for the daemon to allocate all it wants, if nothing stops it.
        time.sleep(3)
        over = {p: mb for p, mb in host_procs(tag).items() if mb > 128}
        assert not over, f"a fork at the first instruction holds more than its 128 MB: {over}"
        requests.delete(f"{server.api}/2015-03-31/functions/escape", timeout=30)
        wait_until(lambda: not host_procs(tag), timeout=10,
                   what="every process of the instance to end with it")
    finally:
        for pid in host_procs(tag):
            os.kill(pid, 9)


def test_a_fork_bomb_stops_at_the_pids_limit(server):
    if not os.path.exists("/sys/fs/cgroup/pids") and "pids" not in open("/sys/fs/cgroup/cgroup.controllers").read():
        pytest.skip("no pids controller on this host")
    probe(server, "bomb", memory=1024)
    out = run(server, """
n = 0
try:
    while n < 2000:
        if os.fork() == 0:
            os.execv("/usr/bin/sleep", ["sleep", "20"])
        n += 1
except OSError as e:
    out["err"] = type(e).__name__
out["forked"] = n
""", "bomb")
    assert out.get("err") == "BlockingIOError" and out["forked"] < 1024, out


def test_max_memory_used_is_the_real_peak_when_killed_for_memory(server):
    import base64
    server.create("hog", "python3.11", code="py_hello", memory=128, timeout=10)
    r = server.invoke("hog", {"alloc_mb": 400}, tail=True)
    assert r.json()["errorType"] == "Runtime.OutOfMemory", r.text
    log = base64.b64decode(r.headers["X-Amz-Log-Result"]).decode()
    report = [l for l in log.splitlines() if l.startswith("REPORT")][0]
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert used >= 120, report


def test_sandbox_require_starts_here_and_says_what_is_in_force(make_server):
    s = make_server(args=["--sandbox", "require"])
    out = s.output()
    assert "sandbox: each function its own uid/gid" in out
    assert "sandbox: missing" not in out
    off = make_server(args=["--sandbox", "off"])
    assert "sandbox off: functions run as the server's user" in off.output()


def test_ephemeral_storage_sets_the_size_of_tmp(server):
    probe(server, memory=256)
    c = server.client()
    size = "out['mb'] = os.statvfs('/tmp').f_blocks * os.statvfs('/tmp').f_frsize >> 20"
    assert run(server, size)["mb"] == 512
    assert c.get_function_configuration(FunctionName="probe")["EphemeralStorage"] == {"Size": 512}
    c.update_function_configuration(FunctionName="probe", EphemeralStorage={"Size": 2048})
    assert c.get_function_configuration(FunctionName="probe")["EphemeralStorage"] == {"Size": 2048}
    assert run(server, size)["mb"] == 2048
    # boto3 checks the range itself: ask raw, as another client would.
    r = requests.put(f"{server.api}/2015-03-31/functions/probe/configuration",
                     json={"EphemeralStorage": {"Size": 256}}, timeout=30)
    assert r.status_code == 400 and "EphemeralStorage" in r.text, r.text


def test_kill_9_of_the_server_ends_every_sandboxed_process(make_server):
    # The init dies with the server (parent-death signal) and its namespace with it;
    # the reaper and the cgroup back that up. A daemon in its own session goes too.
    from conftest import wait_until
    server = make_server()
    tag = "k9-" + os.urandom(4).hex()
    probe(server)
    start_daemon(server, tag)
    try:
        wait_until(lambda: host_procs(tag), timeout=10, what="the daemon to start")
        server.proc.kill()
        server.proc.wait()
        wait_until(lambda: not host_procs(tag), timeout=10,
                   what="the daemon to end with the server")
    finally:
        for pid in host_procs(tag):
            os.kill(pid, 9)


SPIN = b'''
import os, time
def handler(event, context):
    end = time.time() + event["seconds"]
    kids = []
    for _ in range(event["procs"]):
        pid = os.fork()
        if pid == 0:
            while time.time() < end:
                pass
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
    t = os.times()
    return {"cpu": t.children_user + t.children_system}
'''


def test_cpu_is_shared_in_proportion_to_memory(server):
    # Lambda: 1,769 MB is one vCPU. Two busy functions on a full machine get CPU in
    # the proportion of their memory (1769:128), not half each.
    from concurrent.futures import ThreadPoolExecutor
    cpu = "/sys/fs/cgroup/cpu" if os.path.exists("/sys/fs/cgroup/cpu") else "/sys/fs/cgroup"
    if not os.path.exists(cpu + "/cpu.shares") and not os.path.exists(cpu + "/cgroup.controllers"):
        pytest.skip("no cpu controller on this host")
    for name, mb in (("big", 1769), ("small", 128)):
        server.create(name, "python3.11", zip_bytes=zip_dir(None, {"app.py": SPIN}),
                      memory=mb, timeout=30)
        server.invoke(name, {"seconds": 0, "procs": 0})  # warm, so both start together
    procs = 2 * os.cpu_count()  # more runnable work than the machine has cores

    def spin(name):
        r = server.invoke(name, {"seconds": 3, "procs": procs})
        assert r.status_code == 200 and "cpu" in r.json(), r.text
        return r.json()["cpu"]
    with ThreadPoolExecutor(2) as ex:
        big, small = ex.map(spin, ["big", "small"])
    assert big > 4 * small, f"1769 MB got {big:.2f} s of CPU, 128 MB got {small:.2f} s"


def test_instances_of_one_function_share_its_view_but_not_their_tmp(server):
    # The version's view is built once and copied by each instance; /tmp, /proc
    # and /dev/shm are each instance's own.
    from concurrent.futures import ThreadPoolExecutor
    probe(server)
    code = """
import time
mine = os.environ['AWS_LAMBDA_LOG_STREAM_NAME']
open('/tmp/who', 'a').write(mine + '\\n')
time.sleep(0.5)
out['me'] = mine
out['seen'] = open('/tmp/who').read().split()
out['pids'] = sorted(p for p in os.listdir('/proc') if p.isdigit())
"""
    with ThreadPoolExecutor(2) as ex:
        a, b = ex.map(lambda _: run(server, code), range(2))
    assert a["me"] != b["me"], (a, b)  # two instances
    assert a["seen"] == [a["me"]] and b["seen"] == [b["me"]], (a, b)
    assert a["pids"] == b["pids"] == ["1", "2"], (a, b)
    assert "no shared sandbox view" not in server.output()
