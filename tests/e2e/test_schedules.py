"""Schedules: firing, overlap, catch-up after downtime, and their history."""
import json
import shutil
import time

import pytest

from conftest import FUNCTIONS, wait_until

# These tests see what the function did through files on the host.
pytestmark = pytest.mark.host_files

SINK = '''
import json, os, time
def handler(event, context):
    with open(os.environ["SINK_FILE"], "a") as f:
        f.write(json.dumps({"event": event, "request_id": context.aws_request_id, "at": time.time(),
                            "arn": context.invoked_function_arn}) + "\\n")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    return "ok"
'''


def app(tmp_path, schedules, sleep=0):
    d = tmp_path / "app"
    (d / "tick").mkdir(parents=True, exist_ok=True)
    (d / "tick" / "app.py").write_text(SINK)
    sink = tmp_path / "fired"
    (d / "ondol.toml").write_text(f'''
app = "cron"

[functions.tick]
runtime = "python3.11"
handler = "app.handler"
code = "tick"
timeout = "10s"
environment = {{ SINK_FILE = "{sink}", SLEEP = "{sleep}" }}

{schedules}
''')
    return d, sink


def fired(sink):
    return [json.loads(l) for l in open(sink)] if sink.exists() else []


def test_rate_schedule_fires_with_the_scheduled_event(server, tmp_path):
    d, sink = app(tmp_path, '''
[[schedules]]
name = "every-second"
function = "tick"
expression = "rate(1 seconds)"
''')
    server.cli("deploy", str(d))
    got = wait_until(lambda: (lambda f: f if len(f) >= 3 else None)(fired(sink)), timeout=15)
    ev = got[0]["event"]
    assert ev["detail-type"] == "Scheduled Event" and ev["source"] == "aws.events"
    assert ev["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/cron-every-second"]
    assert ev["detail"] == {} and ev["account"] == "000000000000" and ev["time"].endswith("Z")
    times = [f["event"]["time"] for f in got]
    assert len(times) == len(set(times)), "one firing per slot"
    listing = json.loads(server.cli("schedules", "--json").stdout)
    s = listing[0]
    assert s["name"] == "every-second" and s["function"] == "cron-tick" and s["next"]
    assert any(r["outcome"] == "succeeded" for r in s["runs"])
    text = server.cli("schedules").stdout
    assert "cron/every-second" in text and "next:" in text


def test_input_and_overlap_skip(server, tmp_path):
    d, sink = app(tmp_path, '''
[[schedules]]
name = "slow"
function = "tick"
expression = "rate(1 seconds)"
input = { kind = "nightly" }
overlap = "skip"
''', sleep=2.5)
    server.cli("deploy", str(d))
    time.sleep(6)
    got = fired(sink)
    assert got and all(f["event"] == {"kind": "nightly"} for f in got)
    assert len(got) <= 3, f"runs overlapping a slow one were skipped: {len(got)} ran"
    runs = json.loads(server.cli("schedules", "--json").stdout)[0]["runs"]
    assert any(r["outcome"] == "skipped (overlap)" for r in runs), runs


def test_catch_up_after_a_stop(make_server, tmp_path):
    data = tmp_path / "data"
    d, sink = app(tmp_path, '''
[[schedules]]
name = "all"
function = "tick"
expression = "rate(1 seconds)"
catch_up = "all"
''')
    s1 = make_server(data)
    s1.cli("deploy", str(d))
    wait_until(lambda: len(fired(sink)) >= 1, timeout=10)
    assert s1.stop() == 0
    before = {f["event"]["time"] for f in fired(sink)}
    time.sleep(4)
    s2 = make_server(data)
    wait_until(lambda: len(fired(sink)) >= len(before) + 4, timeout=15, what="the missed slots")
    times = [f["event"]["time"] for f in fired(sink)]
    assert len(times) == len(set(times)), "no slot fired twice across the restart"
    runs = json.loads(s2.cli("schedules", "--json").stdout)[0]["runs"]
    assert any("caught up" in r["outcome"] for r in runs), runs


def test_catch_up_none_skips_missed_slots(make_server, tmp_path):
    data = tmp_path / "data"
    d, sink = app(tmp_path, '''
[[schedules]]
name = "none"
function = "tick"
expression = "rate(2 seconds)"
''')
    s1 = make_server(data)
    s1.cli("deploy", str(d))
    wait_until(lambda: len(fired(sink)) >= 1, timeout=10)
    s1.stop()
    n = len(fired(sink))
    time.sleep(5)
    s2 = make_server(data)
    time.sleep(1.5)
    assert len(fired(sink)) <= n + 1, "missed slots are not fired with catch_up = none"
    runs = json.loads(s2.cli("schedules", "--json").stdout)[0]["runs"]
    assert any("missed" in r["outcome"] for r in runs), runs


def test_bad_schedules_are_refused_naming_the_field(server, tmp_path):
    d, _ = app(tmp_path, '''
[[schedules]]
name = "bad"
function = "tick"
expression = "cron(0 25 * * ? *)"
''')
    r = server.cli("deploy", str(d), check=False)
    assert r.returncode != 0 and "schedules[0]" in r.stderr and "hours" in r.stderr, r.stderr
    d2, _ = app(tmp_path, '''
[[schedules]]
name = "tz"
function = "tick"
expression = "cron(0 3 * * ? *)"
timezone = "Mars/Olympus"
''')
    r = server.cli("deploy", str(d2), check=False)
    assert "timezone" in r.stderr, r.stderr
    d3, _ = app(tmp_path, '''
[[schedules]]
name = "x"
function = "tick"
expression = "rate(1 minute)"
catch_up = "sometimes"
''')
    r = server.cli("deploy", str(d3), check=False)
    assert "schedules[0].catch_up: expected one of" in r.stderr, r.stderr


def test_catch_up_last_fires_once_for_the_missed_slots(make_server, tmp_path):
    data = tmp_path / "data"
    d, sink = app(tmp_path, '''
[[schedules]]
name = "last"
function = "tick"
expression = "rate(1 seconds)"
catch_up = "last"
''')
    s1 = make_server(data)
    s1.cli("deploy", str(d))
    wait_until(lambda: len(fired(sink)) >= 1, timeout=10)
    s1.stop()
    n = len(fired(sink))
    time.sleep(4)
    s2 = make_server(data)
    runs = wait_until(lambda: [r for r in json.loads(s2.cli("schedules", "--json").stdout)[0]["runs"] if "caught up" in r["outcome"]] or None, timeout=10)
    assert len(runs) == 1, runs
    time.sleep(1.5)
    assert n + 1 <= len(fired(sink)) <= n + 4, "one catch-up firing, then the schedule goes on"


def test_each_stage_fires_its_schedules_on_its_own_alias(server, tmp_path):
    prod_sink = tmp_path / "fired-prod"
    d, sink = app(tmp_path, f'''
[[schedules]]
name = "every-second"
function = "tick"
expression = "rate(1 seconds)"

[stages.prod]
environment = {{ SINK_FILE = "{prod_sink}" }}
''')
    server.cli("deploy", str(d))
    server.cli("deploy", str(d), "--stage", "prod")
    wait_until(lambda: len(fired(sink)) >= 2 and len(fired(prod_sink)) >= 2, timeout=15,
               what="both stages' schedules to fire")
    assert all(f["arn"].endswith(":function:cron-tick:live") for f in fired(sink))
    assert all(f["arn"].endswith(":function:cron-tick:prod") for f in fired(prod_sink))
    listing = json.loads(server.cli("schedules", "--json").stdout)
    assert sorted(s["stage"] for s in listing) == ["$default", "prod"], listing
    assert "cron@prod/every-second" in server.cli("schedules").stdout
