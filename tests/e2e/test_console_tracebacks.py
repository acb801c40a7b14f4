"""The console's log page shows a Python traceback (one record, its parts joined by
`\\r` as Lambda's runtimes write them) one part a line, as `ondol logs` does."""
from test_console import browser, console, playwright  # noqa: F401 (fixtures)


def test_a_traceback_reads_one_frame_a_line_in_the_log_page(make_server, console):  # noqa: F811
    server = make_server()
    server.create("thrower", "python3.11", code="py_hello")
    r = server.invoke("thrower", {"raise": "boom-in-console"})
    assert r.headers.get("X-Amz-Function-Error") == "Unhandled", r.text
    server.request_log(r.headers["x-amzn-RequestId"])

    c = console(server)
    c.open("#/logs?function=thrower")
    line = c.testid("log-line").filter(has_text="boom-in-console")
    playwright.expect(line).to_have_count(1)
    text = line.locator("pre").inner_text()
    parts = text.split("\n")
    assert parts[0].endswith("[ERROR] ValueError: boom-in-console"), text
    assert parts[1].strip() == "Traceback (most recent call last):", text
    assert any(p.strip().startswith('File "/var/task/app.py"') for p in parts[2:]), text
    assert all(p.startswith("    ") for p in parts[1:]), text
