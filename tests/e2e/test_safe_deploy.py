"""Deploys publish a version, warm it, then switch: no failed request, no cold start
after the switch, and a version that cannot start never serves."""
import re
import shutil
import threading
import time

import requests

from conftest import ROOT, run_load, wait_until


def copy_app(tmp_path):
    dst = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dst)
    return dst


def test_no_failed_request_and_no_cold_start_across_a_deploy(server, tmp_path):
    app = copy_app(tmp_path)
    server.cli("deploy", str(app))
    url = server.http + "/hello/load"
    results, stop = [], threading.Event()

    def load():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.get(url, timeout=10)
                results.append((time.time(), r.status_code, r.json().get("message"), r.headers["apigw-requestid"]))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(results) > 20, timeout=10)
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " (v2)!"))
    out = server.cli("deploy", str(app)).stdout
    switched = time.time()
    assert "shop-hello: version 2 warm" in out and "shop-hello: version 2 serves" in out, out
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    assert all(code == 200 for _, code, _, _ in results), [r for r in results if r[1] != 200][:3]
    after = [r for r in results if r[0] > switched + 0.05]
    assert after and all(m == "hello, load (v2)!" for _, _, m, _ in after), "the new version serves after the switch"
    log = server.output()
    cold_after = [rid for _, _, _, rid in after if re.search(rf"cold_start=true request_id={rid}", log)]
    assert cold_after == [], "no request after the switch waited for a cold start"


def test_a_broken_version_never_serves_and_the_deploy_says_why(server, tmp_path):
    app = copy_app(tmp_path)
    server.cli("deploy", str(app))
    assert requests.get(server.http + "/hello/a").json() == {"message": "hello, a!"}
    hello = app / "hello" / "app.py"
    hello.write_text("import nosuchmodule_in_this_deploy\n" + hello.read_text().replace("!", "?"))
    bad = server.cli("deploy", str(app), check=False)
    assert bad.returncode != 0
    assert "Runtime.ImportModuleError" in bad.stderr and "nosuchmodule_in_this_deploy" in bad.stderr, bad.stderr
    assert "init log of shop-hello" in bad.stderr and "nothing was switched" in bad.stderr
    for _ in range(5):
        assert requests.get(server.http + "/hello/a").json() == {"message": "hello, a!"}, "the old version still serves"


def test_history_and_rollback(server, tmp_path):
    app = copy_app(tmp_path)
    server.cli("deploy", str(app))
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " v2!"))
    server.cli("deploy", str(app))
    assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x v2!"}
    hello.write_text("import not_a_module_anywhere\n" + hello.read_text())
    assert server.cli("deploy", str(app), check=False).returncode != 0
    hist = server.cli("history", "--app", "shop").stdout.splitlines()
    assert len(hist) == 3, hist
    assert "failed: version 3 of shop-hello failed to start" in hist[0], hist[0]
    assert "deployed" in hist[1] and "shop-hello=2" in hist[1]
    assert "deployed" in hist[2] and "shop-hello=1" in hist[2]
    import getpass
    import socket
    assert f"{getpass.getuser()}@{socket.gethostname()}" in hist[2], "who deployed, and from where"
    out = server.cli("rollback", "--app", "shop").stdout
    assert "rolled back to #1" in out, out
    assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x!"}
    after = server.cli("history", "--app", "shop").stdout.splitlines()
    assert "rolled back to #1" in after[0] and "shop-hello=1" in after[0]
    to2 = server.cli("rollback", "--app", "shop", "--to", "2").stdout
    assert "rolled back to #2" in to2
    assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x v2!"}


def with_strategy(app, strategy):
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace('environment = { GREETING = "hello" }',
                                             f'environment = {{ GREETING = "hello" }}\nstrategy = "{strategy}"'))


def test_a_failing_canary_rolls_back_by_itself(server, tmp_path):
    app = copy_app(tmp_path)
    with_strategy(app, "canary 50% 20s")
    server.cli("deploy", str(app))
    results, stop = [], threading.Event()
    threads = [threading.Thread(target=run_load, args=(server.http + "/hello/c", results, stop)) for _ in range(2)]
    for t in threads:
        t.start()
    hello = app / "hello" / "app.py"
    # The new version fails every other request.
    hello.write_text(hello.read_text().replace("def handler(event, context):",
                                               "N = [0]\n\ndef handler(event, context):\n    N[0] += 1\n    if N[0] % 2:\n        raise RuntimeError('half broken')"))
    t0 = time.time()
    bad = server.cli("deploy", str(app), check=False, timeout=60)
    took = time.time() - t0
    rolled = time.time()
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    assert bad.returncode != 0, bad.stdout
    assert "rolled back shop-hello: version 2 failed" in bad.stderr and "version 1 serves again" in bad.stderr, bad.stderr
    assert took < 15, "rolled back as soon as the error rate showed, not at the end of the canary"
    assert all(code == 200 for t, code in results if t > rolled), "the old version alone serves after the rollback"
    assert "failed: rolled back shop-hello" in server.cli("history", "--app", "shop").stdout.splitlines()[0]


def test_a_healthy_linear_shift_completes(server, tmp_path):
    app = copy_app(tmp_path)
    with_strategy(app, "linear 50% every 1s")
    server.cli("deploy", str(app))
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " v2!"))
    t0 = time.time()
    out = server.cli("deploy", str(app), timeout=60).stdout
    assert time.time() - t0 >= 1, "the shift took its steps"
    assert "shop-hello: version 2 serves" in out
    alias = server.client().get_alias(FunctionName="shop-hello", Name="live")
    assert alias["FunctionVersion"] == "2" and "RoutingConfig" not in alias
    assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x v2!"}


def test_a_cancelled_canary_leaves_no_split_alias(server, tmp_path):
    import signal
    import subprocess
    from conftest import BIN
    app = copy_app(tmp_path)
    with_strategy(app, "canary 50% 60s")
    server.cli("deploy", str(app))
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " v2!"))
    p = subprocess.Popen([BIN, "deploy", str(app), "--endpoint", server.api],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c = server.client()
    wait_until(lambda: c.get_alias(FunctionName="shop-hello", Name="live")
               .get("RoutingConfig", {}).get("AdditionalVersionWeights"), timeout=20, what="the canary to start")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode != 0 and "cancelled by SIGINT" in err, (out, err)
    alias = c.get_alias(FunctionName="shop-hello", Name="live")
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"), alias
    assert "failed: cancelled by SIGINT" in server.cli("history", "--app", "shop").stdout.splitlines()[0]
    for _ in range(5):
        assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x!"}


def test_min_warm_keeps_only_the_serving_version_warm(server, tmp_path):
    app = copy_app(tmp_path)
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace('environment = { GREETING = "hello" }',
                                             'environment = { GREETING = "hello" }\nmin_warm = 1'))
    hello = app / "hello" / "app.py"
    for n in range(3):
        hello.write_text(hello.read_text().replace("!", f" {n}!"))
        server.cli("deploy", str(app))
    live = server.client().get_alias(FunctionName="shop-hello", Name="live")["FunctionVersion"]
    assert live == "3"

    def running():
        pools = server.metrics()["pools"]["shop-hello"]
        return {v: p["running"] for v, p in pools.items() if p["running"]}

    # Superseded versions and $LATEST scale to zero; the live one stays warm.
    wait_until(lambda: running() == {"3": 1}, timeout=15, what="only version 3 to stay warm")
    time.sleep(1)
    assert running() == {"3": 1}, running()


def test_a_failing_canary_rolls_back_the_whole_deploy(server, tmp_path):
    app = copy_app(tmp_path)
    with_strategy(app, "canary 50% 20s")
    server.cli("deploy", str(app))
    results, stop = [], threading.Event()
    threads = [threading.Thread(target=run_load, args=(server.http + "/hello/c", results, stop)) for _ in range(2)]
    for t in threads:
        t.start()
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("def handler(event, context):",
                                               "def handler(event, context):\n    raise RuntimeError('broken')"))
    # greet goes all at once and is switched before hello's canary fails.
    greet = app / "greet" / "index.js"
    greet.write_text(greet.read_text().replace("greeting: `hi", "greeting: `hey"))
    bad = server.cli("deploy", str(app), check=False, timeout=60)
    stop.set()
    for t in threads:
        t.join()
    assert bad.returncode != 0, bad.stdout
    assert "rolled back shop-hello" in bad.stderr and "rolled back whole" in bad.stderr, bad.stderr
    assert "shop-greet: version 2 serves" in bad.stdout, bad.stdout
    c = server.client()
    assert c.get_alias(FunctionName="shop-greet", Name="live")["FunctionVersion"] == "1"
    r = requests.post(server.http + "/greet", json={"name": "ana"})
    assert r.json()["greeting"] == "hi ana", "the deploy's other function is back on its old version"


def test_a_killed_deploy_leaves_no_split_alias(server, tmp_path):
    import signal
    import subprocess
    from conftest import BIN
    app = copy_app(tmp_path)
    with_strategy(app, "canary 50% 60s")
    server.cli("deploy", str(app))
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " v2!"))
    p = subprocess.Popen([BIN, "deploy", str(app), "--endpoint", server.api],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c = server.client()
    wait_until(lambda: c.get_alias(FunctionName="shop-hello", Name="live")
               .get("RoutingConfig", {}).get("AdditionalVersionWeights"), timeout=20, what="the canary to start")
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    # The server notices the lease is no longer renewed and undoes the split.
    alias = wait_until(lambda: (lambda a: a if not a.get("RoutingConfig", {}).get("AdditionalVersionWeights") else None)(
        c.get_alias(FunctionName="shop-hello", Name="live")), timeout=15, what="the split to be undone")
    assert alias["FunctionVersion"] == "1", alias
    assert "stopped renewing its lease" in server.output()
    for _ in range(5):
        assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x!"}
    # A new deploy afterwards shifts as usual.
    hello.write_text(hello.read_text().replace("v2!", "v3!"))
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace("canary 50% 60s", "all-at-once"))
    server.cli("deploy", str(app))
    assert requests.get(server.http + "/hello/x").json() == {"message": "hello, x v3!"}


def test_a_shift_lease_survives_a_server_restart(make_server, tmp_path):
    import signal
    import subprocess
    from conftest import BIN
    data = tmp_path / "data"
    s1 = make_server(data)
    app = copy_app(tmp_path)
    with_strategy(app, "canary 50% 60s")
    s1.cli("deploy", str(app))
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " v2!"))
    p = subprocess.Popen([BIN, "deploy", str(app), "--endpoint", s1.api],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    split = lambda s: s.client().get_alias(FunctionName="shop-hello", Name="live").get(
        "RoutingConfig", {}).get("AdditionalVersionWeights")
    wait_until(lambda: split(s1), timeout=20, what="the canary to start")
    # Both the deploy and the server die while the alias is split.
    p.send_signal(signal.SIGKILL)
    s1.proc.send_signal(signal.SIGKILL)
    p.wait(10)
    s1.proc.wait(10)
    s2 = make_server(data)
    wait_until(lambda: not split(s2), timeout=15, what="the restarted server to undo the split")
    assert s2.client().get_alias(FunctionName="shop-hello", Name="live")["FunctionVersion"] == "1"


def test_a_deploy_that_lost_its_lease_fails_instead_of_promoting(server, tmp_path):
    import signal
    import subprocess
    import botocore.exceptions
    from conftest import BIN
    app = copy_app(tmp_path)
    with_strategy(app, "canary 50% 30s")
    server.cli("deploy", str(app))
    hello = app / "hello" / "app.py"
    hello.write_text(hello.read_text().replace("!", " v2!"))
    p = subprocess.Popen([BIN, "deploy", str(app), "--endpoint", server.api],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c = server.client()
    wait_until(lambda: c.get_alias(FunctionName="shop-hello", Name="live")
               .get("RoutingConfig", {}).get("AdditionalVersionWeights"), timeout=20, what="the canary to start")
    # The alias a deploy is shifting cannot be deleted under it.
    try:
        c.delete_alias(FunctionName="shop-hello", Name="live")
        raise AssertionError("deleted an alias mid-shift")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceConflictException", e.response
    # A deploy that stalls past its lease finds the alias put back and fails.
    p.send_signal(signal.SIGSTOP)
    wait_until(lambda: not c.get_alias(FunctionName="shop-hello", Name="live")
               .get("RoutingConfig", {}).get("AdditionalVersionWeights"), timeout=15, what="the server to undo the split")
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=30)
    assert p.returncode != 0 and "ran out" in err, (out, err)
    assert c.get_alias(FunctionName="shop-hello", Name="live")["FunctionVersion"] == "1"
