"""Stages: one app deployed side by side as `$default` (at the root), `prod` and
`dev` (at /prod/... and /dev/..., and prod at the root of its own host), each with
its own versions, alias, environment and stage variables."""
import json
import shutil
import threading
import time

import requests

from conftest import ROOT, run_load, wait_until

ECHO = '''
import json, os

def handler(event, context):
    ctx = event["requestContext"]
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"stage": ctx["stage"], "vars": event.get("stageVariables"),
                                "path": event.get("rawPath") or event.get("path"),
                                "ctx_path": ctx.get("path") or ctx["http"]["path"],
                                "greeting": os.environ.get("GREETING")})}
'''

STAGES = '''
[functions.echo]
runtime = "python3.11"
handler = "app.handler"
code = "echo"
idle_timeout = "2s"

[[routes]]
route = "GET /echo/{proxy+}"
function = "echo"

[[routes]]
route = "GET /rest/{proxy+}"
function = "echo"
payload = "1.0"

[stages.dev]
environment = { GREETING = "hi" }

[stages.prod.functions.hello]
memory_mb = 256
min_warm = 1
'''


def stage_app(tmp_path):
    app = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", app)
    (app / "echo").mkdir()
    (app / "echo" / "app.py").write_text(ECHO)
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace('strategy = "canary 10% 1m"', "") + STAGES)
    return app


def hello(server, path, host=None):
    r = requests.get(server.http + path, headers={"host": host} if host else {}, timeout=10)
    assert r.status_code == 200, (path, host, r.status_code, r.text)
    return r.json()


def test_stages_are_isolated_and_served_by_prefix_and_host(server, tmp_path):
    app = stage_app(tmp_path)
    server.cli("deploy", str(app))
    prod = server.cli("deploy", str(app), "--stage", "prod").stdout
    assert "deployed shop (stage prod)" in prod and f"{server.http}/prod/hello/{{name}}" in prod, prod
    server.cli("deploy", str(app), "--stage", "dev")

    # Each stage's own environment, at the root, under its prefix, and at its host.
    assert hello(server, "/hello/a") == {"message": "hello, a!"}
    assert hello(server, "/prod/hello/a") == {"message": "welcome, a!"}
    assert hello(server, "/dev/hello/a") == {"message": "hi, a!"}
    assert hello(server, "/hello/a", host="shop.localhost") == {"message": "welcome, a!"}
    assert requests.get(server.http + "/prod/nothing-here").status_code == 404
    assert requests.get(server.http + "/qa/hello/a").status_code == 404, "an undeployed stage is not served"

    # Events carry the stage and its variables; the app sees its own paths.
    e = hello(server, "/prod/echo/x")
    assert e == {"stage": "prod", "vars": {"tier": "prod"}, "path": "/echo/x", "ctx_path": "/echo/x",
                 "greeting": "welcome"}, e
    e = hello(server, "/echo/x")
    assert e["stage"] == "$default" and e["vars"] is None and e["greeting"] is None, e
    e = hello(server, "/prod/rest/y")
    assert (e["stage"], e["vars"], e["path"], e["ctx_path"]) == ("prod", {"tier": "prod"}, "/rest/y", "/prod/rest/y"), e
    e = hello(server, "/rest/y", host="shop.localhost")
    assert (e["stage"], e["path"], e["ctx_path"]) == ("prod", "/rest/y", "/rest/y"), e
    # A web-mode function under a prefix gets its own path.
    site = requests.get(server.http + "/dev/site/page", timeout=10)
    assert site.status_code == 200 and "at /site/page" in site.text, site.text

    # One alias per function per stage, each on a version with that stage's environment.
    c = server.client()
    aliases = {a["Name"]: a["FunctionVersion"] for a in c.list_aliases(FunctionName="shop-hello")["Aliases"]}
    assert set(aliases) == {"live", "prod", "dev"} and len(set(aliases.values())) == 3, aliases
    cfg = c.get_function_configuration(FunctionName="shop-hello", Qualifier="prod")
    assert cfg["Environment"]["Variables"]["GREETING"] == "welcome"
    # A stage's own settings for one function: prod keeps an instance warm, dev does not.
    # (ondol's own `Ondol` member, which boto3 does not model, read as plain JSON)
    raw = {q: requests.get(f"{server.api}/2015-03-31/functions/shop-hello/configuration?Qualifier={q}").json()
           for q in ("prod", "dev")}
    assert (raw["prod"]["MemorySize"], raw["prod"]["Ondol"]["MinWarm"]) == (256, 1), raw["prod"]
    assert (raw["dev"]["MemorySize"], raw["dev"]["Ondol"]["MinWarm"]) == (128, 0), raw["dev"]

    # An unchanged redeploy of a stage uploads and publishes nothing, even though
    # another stage was deployed since.
    versions = len(c.list_versions_by_function(FunctionName="shop-hello")["Versions"])
    again = json.loads(server.cli("deploy", str(app), "--stage", "prod", "--json").stdout)
    assert again["stage"] == "prod" and again["uploaded"] == [], again
    assert again["versions"]["shop-hello"] == aliases["prod"], again
    assert len(c.list_versions_by_function(FunctionName="shop-hello")["Versions"]) == versions

    # A change deployed to dev alone: dev serves it, prod and $default do not.
    code = app / "hello" / "app.py"
    code.write_text(code.read_text().replace("!", " (new)!"))
    server.cli("deploy", str(app), "--stage", "dev")
    assert hello(server, "/dev/hello/b") == {"message": "hi, b (new)!"}
    assert hello(server, "/prod/hello/b") == {"message": "welcome, b!"}
    assert hello(server, "/hello/b") == {"message": "hello, b!"}

    # History per stage, and a rollback that touches its stage only.
    dev_hist = server.cli("history", "--app", "shop", "--stage", "dev").stdout.splitlines()
    assert len(dev_hist) == 2 and all("  dev  " in ln for ln in dev_hist), dev_hist
    assert len(server.cli("history", "--app", "shop").stdout.splitlines()) == 5
    out = server.cli("rollback", "--app", "shop", "--stage", "dev").stdout
    assert "shop (dev): rolled back" in out, out
    assert hello(server, "/dev/hello/b") == {"message": "hi, b!"}
    assert hello(server, "/prod/hello/b") == {"message": "welcome, b!"}

    # Logs of the version a stage serves.
    hello(server, "/prod/hello/pp")
    hello(server, "/dev/hello/dd")
    prod_logs = wait_until(lambda: (lambda o: o if "greeting pp" in o else None)(
        server.cli("logs", "shop-hello", "--stage", "prod").stdout), timeout=10)
    assert "greeting dd" not in prod_logs

    # An idle stage costs nothing: its instances stop after their idle timeout.
    prod_echo = aliases_of(c, "shop-echo")["prod"]
    wait_until(lambda: server.pool("shop-echo", prod_echo).get("running", 0) == 0, timeout=15,
               what="prod's idle echo instances to stop")


def aliases_of(c, fn):
    return {a["Name"]: a["FunctionVersion"] for a in c.list_aliases(FunctionName=fn)["Aliases"]}


def test_a_stage_must_be_declared_and_may_not_hide_routes(server, tmp_path):
    app = stage_app(tmp_path)
    bad = server.cli("deploy", str(app), "--stage", "qa", check=False)
    assert bad.returncode != 0 and "stage qa is not declared" in bad.stderr and "[stages.qa]" in bad.stderr, bad.stderr
    toml = app / "ondol.toml"
    good = toml.read_text()
    toml.write_text(good + '\n[stages.dev.functions.nope]\nmin_warm = 1\n')
    bad = server.cli("deploy", str(app), check=False)
    assert bad.returncode != 0 and "stages.dev.functions.nope" in bad.stderr, bad.stderr
    toml.write_text(good.replace("memory_mb = 256", "memory_mb = 50"))
    bad = server.cli("deploy", str(app), check=False)
    assert bad.returncode != 0 and "stages.prod.functions.hello" in bad.stderr and "MemorySize" in bad.stderr, bad.stderr
    toml.write_text(good + '\n[stages.live]\n')
    bad = server.cli("deploy", str(app), check=False)
    assert bad.returncode != 0 and "stages.live" in bad.stderr, bad.stderr
    # A stage named like a route's first segment would hide it: refused, and nothing changes.
    toml.write_text(toml.read_text().replace("\n[stages.live]\n", "\n[stages.hello]\n"))
    server.cli("deploy", str(app))
    bad = server.cli("deploy", str(app), "--stage", "hello", check=False)
    assert bad.returncode != 0 and "path prefix of stage hello" in bad.stderr, bad.stderr
    assert hello(server, "/hello/a") == {"message": "hello, a!"}
    assert "hello" not in aliases_of(server.client(), "shop-hello"), "refused before anything was published"


def test_a_stage_strategy_rolls_back_on_p99_latency(server, tmp_path):
    app = stage_app(tmp_path)
    toml = app / "ondol.toml"
    toml.write_text(toml.read_text().replace(
        'variables = { tier = "prod" }',
        'variables = { tier = "prod" }\nstrategy = "canary 50% 30s"\n'
        'rollback = { p99 = "150ms", min_invocations = 10 }'))
    server.cli("deploy", str(app), "--stage", "prod")
    results, stop = [], threading.Event()
    threads = [threading.Thread(target=run_load, args=(server.http + "/prod/hello/p", results, stop))
               for _ in range(3)]
    for t in threads:
        t.start()
    code = app / "hello" / "app.py"
    code.write_text(code.read_text().replace("def handler(event, context):",
                                             "import time\n\ndef handler(event, context):\n    time.sleep(0.4)"))
    t0 = time.time()
    bad = server.cli("deploy", str(app), "--stage", "prod", check=False, timeout=60)
    took = time.time() - t0
    stop.set()
    for t in threads:
        t.join()
    assert bad.returncode != 0, bad.stdout
    assert "rolled back shop-hello" in bad.stderr and "p99 duration" in bad.stderr, bad.stderr
    assert "above the 150 ms threshold" in bad.stderr and "version 1 serves again" in bad.stderr, bad.stderr
    assert took < 20, "rolled back once the latency showed, not at the end of the canary"
    assert all(code == 200 for _, code in results)
    assert aliases_of(server.client(), "shop-hello")["prod"] == "1"
    # The same change to $default, which has no strategy of its own, goes all at once.
    server.cli("deploy", str(app), timeout=60)
    assert "p99" not in server.cli("history", "--app", "shop", "--stage", "$default").stdout


def test_removing_a_stage_and_then_the_app(server, tmp_path):
    app = stage_app(tmp_path)
    for stage in ("$default", "prod", "dev"):
        server.cli("deploy", str(app), "--stage", stage)
    c = server.client()
    dev_version = aliases_of(c, "shop-hello")["dev"]
    out = server.cli("remove", "--app", "shop", "--stage", "dev").stdout
    assert "removed stage dev of shop" in out, out
    assert requests.get(server.http + "/dev/hello/a").status_code == 404
    assert hello(server, "/prod/hello/a") == {"message": "welcome, a!"}
    assert hello(server, "/hello/a") == {"message": "hello, a!"}
    assert "dev" not in aliases_of(c, "shop-hello")
    wait_until(lambda: server.pool("shop-hello", dev_version).get("running", 0) == 0, timeout=10,
               what="dev's instances to stop")
    assert "removed" in server.cli("history", "--app", "shop", "--stage", "dev").stdout.splitlines()[0]
    # Deployed again, the stage comes back as new.
    server.cli("deploy", str(app), "--stage", "dev")
    assert hello(server, "/dev/hello/a") == {"message": "hi, a!"}
    again = server.cli("remove", "--app", "shop", "--stage", "qa", check=False)
    assert again.returncode != 0 and "stage qa of shop is not deployed" in again.stderr, again.stderr
    out = server.cli("remove", "--app", "shop", "--everything").stdout
    assert "removed shop: every stage, and 4 function(s)" in out, out
    for path in ("/hello/a", "/prod/hello/a", "/dev/hello/a"):
        assert requests.get(server.http + path).status_code == 404
    assert not [f for f in c.list_functions()["Functions"] if f["FunctionName"].startswith("shop-")]
