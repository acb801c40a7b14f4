"""The web console at /console/, in a real browser (Playwright + Chromium) against a
real server with real functions and traffic: what a person sees on each page.

ONDOL_SCREENSHOTS=1 saves a 1280×800 screenshot of each page to docs/console/.
"""
import http.server
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
import requests

from conftest import FUNCTIONS, ROOT, wait_until, zip_dir

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("ONDOL_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "docs" / "console"
FAST = ["--async-retry-base", "200ms"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)


# ---- the browser ----

@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


class Console:
    """One browser tab on a server's console, recording what went wrong in it."""

    def __init__(self, browser, base):
        self.base = base
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.ctx.new_page()
        self.problems = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self._failed(r))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"{r.request.method} {r.url} -> {r.status}"))
        self.allowed = []

    def _failed(self, r):
        # A poll cut short by leaving the page is no failure of the console.
        if "ERR_ABORTED" not in (r.failure or ""):
            self.problems.append(f"{r.method} {r.url} failed: {r.failure}")

    def open(self, route="#/"):
        self.page.goto(f"{self.base}{route}")
        self.page.wait_for_selector("[data-testid=nav], [data-testid=login-form]")
        return self.page

    def testid(self, tid, **data):
        sel = f"[data-testid={tid}]" + "".join(f'[data-{k.replace("_", "-")}="{v}"]' for k, v in data.items())
        return self.page.locator(sel)

    def shot(self, name):
        if os.environ.get("ONDOL_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.wait_for_timeout(300)
            self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def close(self):
        self.ctx.close()
        unexpected = [p for p in self.problems if not any(re.search(a, p) for a in self.allowed)]
        assert not unexpected, "the console logged errors or had failed requests:\n" + "\n".join(unexpected)


@pytest.fixture
def console(browser):
    opened = []

    def make(server):
        c = Console(browser, f"{server.api}/console/")
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


# ---- apps and traffic ----

APP = '''
app = "{app}"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"

[[routes]]
route = "GET /hi"
function = "hello"
'''

HELLO = '''
def handler(event, context):
    print("serving {mark}", context.aws_request_id)
    return {{"statusCode": 200, "body": "{mark}"}}
'''


def write_app(tmp_path, app, mark):
    d = tmp_path / app
    (d / "hello").mkdir(parents=True, exist_ok=True)
    (d / "hello" / "app.py").write_text(HELLO.format(mark=mark))
    (d / "ondol.toml").write_text(APP.format(app=app))
    return d


def invoke(server, name, payload):
    r = server.invoke(name, payload)
    assert r.status_code == 200, r.text
    return r.headers["x-amzn-RequestId"]


# ---- the tests ----

def test_every_page_loads_and_the_overview_counts_invocations(make_server, console, tmp_path):
    server = make_server()
    server.create("alpha", "python3.11", code="py_hello", env={"SECRET_TOKEN": "do-not-show-me"})
    server.create("beta", "python3.11", code="py_hello")
    app = write_app(tmp_path, "web", "v1")
    server.cli("deploy", str(app), timeout=120)
    for _ in range(3):
        invoke(server, "alpha", {})
    for _ in range(5):
        invoke(server, "beta", {})
    for _ in range(2):
        assert requests.get(f"{server.http}/hi", timeout=30).text == "v1"

    c = console(server)
    page = c.open("#/")
    for name, n in (("alpha", 3), ("beta", 5), ("web-hello", 2)):
        row = c.testid("function-row", name=name)
        playwright.expect(row).to_have_count(1)
        playwright.expect(c.testid("invocations-5m", name=name)).to_have_text(str(n))
        playwright.expect(c.testid("invocations-1h", name=name)).to_have_text(str(n))
    playwright.expect(c.testid("route-row", app="web", stage="$default")).to_contain_text("GET /hi")
    playwright.expect(c.testid("cost-mtd")).to_have_text(re.compile(r"^\$\d"))
    c.shot("overview")

    # Live: a new invocation shows without reloading.
    invoke(server, "alpha", {})
    playwright.expect(c.testid("invocations-5m", name="alpha")).to_have_text("4", timeout=6000)

    page.click("[data-testid=function-row][data-name=alpha] a")
    playwright.expect(c.testid("function-name")).to_have_text("alpha")
    cfg = c.testid("function-config")
    playwright.expect(cfg).to_contain_text("python3.11")
    playwright.expect(cfg).to_contain_text("SECRET_TOKEN")
    assert "do-not-show-me" not in page.content(), "environment values stay out of the page"
    playwright.expect(c.testid("chart-duration").locator("canvas")).to_have_count(1)
    playwright.expect(c.testid("invocation-row")).to_have_count(4)
    c.shot("function")

    page.click("[data-testid=nav-deploys]")
    playwright.expect(c.testid("deploy-row")).to_have_count(1)
    playwright.expect(c.testid("deploy-row").first).to_contain_text("web-hello:1")
    for nav, heading in (("logs", "Logs"), ("events", "Events"), ("cost", "Cost"), ("overview", "Overview")):
        page.click(f"[data-testid=nav-{nav}]")
        playwright.expect(page.locator("main h1")).to_have_text(heading)
        page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)


def test_a_request_id_links_to_its_log_lines_and_log_search_finds_them(make_server, console):
    server = make_server()
    server.create("talker", "python3.11", code="py_hello")
    rid = invoke(server, "talker", {"print": 2, "tag": "needle-4242"})
    other = invoke(server, "talker", {"print": 1, "tag": "haystack"})
    server.request_log(rid)
    server.request_log(other)

    c = console(server)
    page = c.open("#/functions/talker")
    row = c.testid("invocation-row", request_id=rid)
    playwright.expect(row).to_have_count(1)
    row.locator("[data-testid=invocation-logs-link]").click()
    assert f"request_id={rid}" in page.url
    lines = c.testid("log-line")
    playwright.expect(lines.filter(has_text="needle-4242 1")).to_have_count(1)
    playwright.expect(lines.filter(has_text="REPORT")).to_have_count(1)
    assert all(l.get_attribute("data-request-id") == rid for l in lines.all()), "only that request's lines"

    # By text, from an empty form.
    page = c.open("#/logs")
    page.fill("[data-testid=logs-text]", "needle-4242 0")
    page.click("[data-testid=logs-search]")
    playwright.expect(lines).to_have_count(1)
    playwright.expect(lines).to_have_attribute("data-request-id", rid)
    assert "text=needle-4242" in page.url, "the query is kept in the hash"
    c.shot("logs")

    # By request id typed in, for the other invocation.
    page.fill("[data-testid=logs-text]", "")
    page.fill("[data-testid=logs-request-id]", other)
    page.click("[data-testid=logs-search]")
    playwright.expect(lines.filter(has_text="haystack 0")).to_have_count(1)
    playwright.expect(lines.filter(has_text="needle")).to_have_count(0)


def test_follow_shows_a_line_logged_after_it_was_turned_on(make_server, console):
    server = make_server()
    server.create("chatty", "python3.11", code="py_hello")
    server.request_log(invoke(server, "chatty", {"print": 1, "tag": "before"}))

    c = console(server)
    page = c.open("#/logs?function=chatty")
    lines = c.testid("log-line")
    playwright.expect(lines.filter(has_text="before 0")).to_have_count(1)
    page.check("[data-testid=logs-follow]")
    playwright.expect(c.testid("following")).to_be_visible()
    rid = invoke(server, "chatty", {"print": 1, "tag": "after-follow"})
    playwright.expect(lines.filter(has_text="after-follow 0")).to_have_count(1, timeout=8000)
    playwright.expect(c.testid("log-line", request_id=rid).filter(has_text="REPORT")).to_have_count(1, timeout=8000)
    playwright.expect(lines.filter(has_text="before 0")).to_have_count(1)


def test_a_rollback_clicked_in_the_page_moves_the_stage_alias(server, console, tmp_path):
    app = write_app(tmp_path, "roll", "first")
    server.cli("deploy", str(app), timeout=120)
    write_app(tmp_path, "roll", "second")
    server.cli("deploy", str(app), timeout=120)
    lam = server.client()
    assert lam.get_alias(FunctionName="roll-hello", Name="live")["FunctionVersion"] == "2"
    assert requests.get(f"{server.http}/hi", timeout=30).text == "second"

    c = console(server)
    page = c.open("#/deploys")
    rows = c.testid("deploy-row")
    playwright.expect(rows).to_have_count(2)
    playwright.expect(rows.first).to_have_attribute("data-live", "true")
    first_id = rows.nth(1).get_attribute("data-id")
    c.shot("deploys")
    c.testid("rollback-button", id=first_id).click()
    playwright.expect(c.testid("rollback-confirm")).to_contain_text(f"#{first_id}")
    c.testid("rollback-confirm-yes").click()
    playwright.expect(c.testid("rollback-result")).to_contain_text(f"to #{first_id}")
    playwright.expect(rows).to_have_count(3)
    playwright.expect(rows.first).to_contain_text(f"rolled back to #{first_id}")
    playwright.expect(rows.first).to_have_attribute("data-live", "true")

    assert lam.get_alias(FunctionName="roll-hello", Name="live")["FunctionVersion"] == "1"
    assert requests.get(f"{server.http}/hi", timeout=30).text == "first"


def test_a_dead_letter_replayed_from_the_page_runs_again(make_server, console, tmp_path):
    server = make_server(args=FAST)
    server.create("flaky", "python3.11", code="py_hello")
    r = requests.post(f"{server.api}/2015-03-31/functions/flaky/invocations",
                      headers={"X-Amz-Invocation-Type": "Event"},
                      data=json.dumps({"append": "/tmp/attempts", "then_fail": True, "mark": 1}))
    rid = r.headers["x-amzn-RequestId"]
    dlq = lambda: requests.get(f"{server.api}/ondol/v1/dlq/flaky", timeout=10).json()["dead_letters"]
    wait_until(lambda: len(dlq()) == 1, timeout=20, what="a dead letter")

    def runs():
        q = {"function": "flaky", "request_id": rid, "text": "START RequestId"}
        return len(requests.get(f"{server.api}/ondol/v1/logs", params=q, timeout=10).json()["entries"])
    attempts = runs()
    assert attempts >= 1

    ticker = write_app(tmp_path, "ticker", "tick")
    with open(ticker / "ondol.toml", "a") as f:
        f.write('\n[[schedules]]\nname = "every-2s"\nfunction = "hello"\nexpression = "rate(2 seconds)"\n')
    server.cli("deploy", str(ticker), timeout=120)
    ran = lambda: any(r["outcome"] == "succeeded" for s in json.loads(server.cli("schedules", "--json").stdout)
                      for r in s["runs"])
    wait_until(ran, timeout=20, what="a scheduled run")

    c = console(server)
    page = c.open("#/events")
    schedule = c.testid("schedule-row", name="every-2s")
    playwright.expect(schedule).to_contain_text("ticker-hello")
    playwright.expect(schedule).to_contain_text("rate(2 seconds)")
    playwright.expect(schedule.locator(".run").first).to_contain_text("succeeded")
    queue = c.testid("queue-row", name="flaky")
    playwright.expect(queue.locator("[data-testid=dead-letter-count]")).to_have_text("1")
    queue.locator("[data-testid=show-dead-letters]").click()
    letter = c.testid("dead-letter-row", request_id=rid)
    playwright.expect(letter).to_have_count(1)
    c.shot("events")
    letter.locator("[data-testid=replay-button]").click()
    playwright.expect(c.testid("replay-result")).to_contain_text("Replayed 1 dead letter")

    # Back on the queue with the same request id: it runs (and fails) again.
    wait_until(lambda: runs() > attempts, timeout=20, what="the replayed run")
    page.wait_for_timeout(200)


def test_the_cost_page_shows_the_months_figures_and_the_budget_banner(make_server, console):
    server = make_server(args=["--budget-usd", "0.0000001"])
    server.create("spender", "python3.11", code="py_hello", memory=512)
    for _ in range(4):
        invoke(server, "spender", {"sleep": 0.05})
    want = requests.get(f"{server.api}/ondol/v1/cost", timeout=10).json()
    assert want["month_to_date"]["bill"]["total_usd"] > 0

    c = console(server)
    page = c.open("#/")
    playwright.expect(c.testid("budget-banner")).to_contain_text("node")
    page = c.open("#/cost")
    playwright.expect(page.locator("main h1")).to_have_text("Cost")
    playwright.expect(c.testid("budget-row", scope="node")).to_have_attribute("data-state", "exceeded")
    playwright.expect(c.testid("budget-banner")).to_be_visible()
    req = c.testid("bill-mtd").locator("[data-testid=cost-line][data-item=lambda_requests]")
    playwright.expect(req).to_contain_text("4 req")
    usage = c.testid("usage-row", name="spender")
    playwright.expect(usage).to_have_count(1)
    playwright.expect(usage.locator("td").nth(4)).to_have_text("4")
    total = c.testid("bill-mtd-total").inner_text()
    assert re.fullmatch(r"\$\d+\.\d+", total), total
    playwright.expect(c.testid("bill-projected-total")).to_have_text(re.compile(r"^\$\d"))
    assert want["month"] in page.inner_text("main")
    c.shot("cost")


def test_sign_in_with_a_key_and_out_again(make_server, console):
    key, secret = "AKIDCONSOLE", "s3cret/console"
    server = make_server(env={"ONDOL_ACCESS_KEY_ID": key, "ONDOL_SECRET_ACCESS_KEY": secret})
    lam = boto3.client(
        "lambda", endpoint_url=server.api, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret)
    lam.create_function(FunctionName="guarded", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/x",
                        Code={"ZipFile": zip_dir(FUNCTIONS / "py_hello")})
    lam.invoke(FunctionName="guarded", Payload=b"{}")

    c = console(server)
    # The first session check and the wrong key are 401s the page expects.
    c.allowed = [r"/ondol/v1/console/(session|login) -> 401", r"console: Failed to load resource.*401"]
    page = c.open("#/")
    playwright.expect(c.testid("login-form")).to_be_visible()
    c.shot("login")
    page.fill("[data-testid=login-access-key-id]", key)
    page.fill("[data-testid=login-secret]", "not-the-secret")
    page.click("[data-testid=login-submit]")
    playwright.expect(c.testid("login-error")).to_have_text("wrong key or secret")

    page.fill("[data-testid=login-secret]", secret)
    page.click("[data-testid=login-submit]")
    playwright.expect(c.testid("function-row", name="guarded")).to_have_count(1)
    playwright.expect(c.testid("invocations-5m", name="guarded")).to_have_text("1")

    c.testid("sign-out").click()
    playwright.expect(c.testid("login-form")).to_be_visible()
    page.reload()
    playwright.expect(c.testid("login-form")).to_be_visible()
    # Without the session, the API refuses the console's own requests.
    r = requests.get(f"{server.api}/ondol/v1/status", headers={"x-ondol-console": "1"}, timeout=10)
    assert r.status_code in (401, 403), r.status_code
