"""Dependency builds, as a user meets them: `ondol deploy` and `ondol build` install
requirements.txt with real pip and package-lock.json with real npm, from the
registries, cache them, and ship them with the function.

One cache dir is shared by the tests of this file (pip's and npm's downloads and
the installs), as a user's ~/.cache/ondol is: each test's requirements are its
own, so what a test expects to be installed is never found in the cache.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import BIN, ROOT

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ondol-cache")


def ondol(cache, *args, cwd=None, check=True, timeout=600):
    env = dict(os.environ, ONDOL_CACHE_DIR=str(cache))
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                       cwd=cwd, env=env)
    if check:
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    return r


def deploy(server, cache, app, check=True):
    return ondol(cache, "deploy", str(app), "--endpoint", server.api, check=check)


def write_app(root, functions, routes):
    """An app of Python functions: {key: {file: text}}, routes [(route, key)]."""
    lines = ['app = "builds"']
    for key, files in functions.items():
        lines += [f"[functions.{key}]", 'runtime = "python3.11"', 'handler = "app.handler"',
                  f'code = "{key}"', 'timeout = "30s"']
        for name, text in files.items():
            p = root / key / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    for route, key in routes:
        lines += ["[[routes]]", f'route = "{route}"', f'function = "{key}"']
    (root / "ondol.toml").write_text("\n".join(lines) + "\n")
    return root


REPORT = '''import json, os, sys
import {module}

def handler(event, context):
    root = os.environ["LAMBDA_TASK_ROOT"]
    return {{"statusCode": 200, "body": json.dumps({{
        "version": {module}.__version__ if hasattr({module}, "__version__") else None,
        "file": {module}.__file__, "root": root,
        "python": "%d.%d" % sys.version_info[:2]}})}}
'''


def installed_entries(cache):
    return sorted(p.name for p in (cache / "deps").iterdir() if not p.name.startswith("."))


def test_requirements_with_a_native_wheel_are_built_cached_and_rebuilt_per_function(server, cache, tmp_path):
    app = write_app(tmp_path / "app", {
        "fast": {"app.py": REPORT.format(module="orjson"), "requirements.txt": "orjson==3.10.7\n"},
        "idna": {"app.py": REPORT.format(module="idna"), "requirements.txt": "idna==3.7\n"},
    }, [("GET /fast", "fast"), ("GET /idna", "idna")])
    first = deploy(server, cache, app).stdout
    assert "builds-fast: packaged" in first and "dependencies installed from requirements.txt" in first, first
    assert first.count("dependencies installed") == 2, first
    r = requests.get(server.http + "/fast", timeout=30)
    assert r.status_code == 200, r.text
    got = r.json()
    # orjson is a compiled extension: the one shipped, built for the runtime's 3.11,
    # not the host's copy.
    assert got["python"] == "3.11" and got["file"].startswith(got["root"] + "/orjson/"), got
    assert got["version"] == "3.10.7", got
    entries = installed_entries(cache)
    stamps = {e: (cache / "deps" / e / "deps.zip").stat().st_mtime_ns for e in entries}

    # Unchanged: nothing installed, nothing uploaded, quickly.
    t0 = time.monotonic()
    again = deploy(server, cache, app).stdout
    took = time.monotonic() - t0
    assert "dependencies installed" not in again and again.count("unchanged, cached") == 2, again
    assert "0 uploaded, 2 unchanged" in again, again
    assert took < 3, f"an unchanged redeploy took {took:.2f} s"
    assert installed_entries(cache) == entries
    assert {e: (cache / "deps" / e / "deps.zip").stat().st_mtime_ns for e in entries} == stamps

    # One requirement changed: only that function is installed again.
    (app / "idna" / "requirements.txt").write_text("idna==3.6\n")
    third = deploy(server, cache, app).stdout
    lines = {l.split(":")[0]: l for l in third.splitlines() if ": packaged" in l}
    assert "dependencies installed" in lines["builds-idna"], third
    assert "unchanged, cached" in lines["builds-fast"], third
    assert "1 uploaded, 1 unchanged" in third, third
    assert requests.get(server.http + "/idna", timeout=30).json()["version"] == "3.6"
    assert len(installed_entries(cache)) == len(entries) + 1


def test_a_bad_requirement_names_the_file_and_package_and_changes_nothing(server, cache, tmp_path):
    app = write_app(tmp_path / "app", {
        "bad": {"app.py": REPORT.format(module="json"),
                "requirements.txt": "idna==3.7\nnosuchpkg-ondol-e2e==9.9.9\n"},
    }, [("GET /bad", "bad")])
    r = deploy(server, cache, app, check=False)
    assert r.returncode != 0
    req = app / "bad" / "requirements.txt"
    err = r.stderr
    assert f"functions.bad: pip could not install nosuchpkg-ondol-e2e==9.9.9 from {req}" in err, err
    # pip's own words, its tail.
    assert "No matching distribution found for nosuchpkg-ondol-e2e==9.9.9" in err, err
    assert requests.get(f"{server.api}/2015-03-31/functions/builds-bad", timeout=10).status_code == 404
    assert not any(p.name.startswith(".") for p in (cache / "deps").iterdir()), "a failed install left a build dir"


def test_ondolignore_and_defaults_decide_what_is_packaged(server, cache, tmp_path):
    lister = '''import json, os
def handler(event, context):
    root = os.environ["LAMBDA_TASK_ROOT"]
    files = sorted(os.path.relpath(os.path.join(d, f), root)
                   for d, _, fs in os.walk(root) for f in fs)
    return {"statusCode": 200, "body": json.dumps(files)}
'''
    app = write_app(tmp_path / "app", {"ls": {
        "app.py": lister,
        "notes.md": "internal notes",
        "data/keep.json": "{}",
        "data/huge.bin": "x" * 1000,
        "tests/test_app.py": "assert True",
        ".venv/lib/python3.11/site-packages/flask/__init__.py": "",
        "__pycache__/app.cpython-311.pyc": "junk",
        ".ondolignore": "# not shipped\n*.md\ndata/*.bin\ntests/\n",
    }}, [("GET /ls", "ls")])
    out = deploy(server, cache, app).stdout
    assert "builds-ls: packaged (" in out and "KB)" in out, out
    files = requests.get(server.http + "/ls", timeout=30).json()
    assert files == ["app.py", "data/keep.json"], files


def test_node_package_lock_is_installed_with_npm_ci_outside_the_source_tree(server, cache, tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "builds-node", app)
    src = app / "fn"
    # A stale node_modules in the source: ondol builds its own, this one never ships.
    stale = src / "node_modules" / "ms"
    stale.mkdir(parents=True)
    (stale / "index.js").write_text("module.exports = () => 'stale';")
    before = sorted(str(p.relative_to(src)) for p in src.rglob("*"))

    built = ondol(cache, "build", "--dir", str(app), "--json")
    fn = json.loads(built.stdout)["functions"]["buildsnode-fn"]
    assert fn["dependencies"] == {"declared_in": "package-lock.json", "installed": True,
                                  "ms": fn["dependencies"]["ms"]}, fn
    import zipfile
    names = zipfile.ZipFile(fn["package"]).namelist()
    assert "node_modules/ms/index.js" in names and "index.js" in names, names
    assert not any(n.startswith("node_modules/is-number") for n in names), "a devDependency shipped"

    out = deploy(server, cache, app).stdout
    assert "dependencies from package-lock.json unchanged, cached" in out, out
    got = requests.get(server.http + "/ms", timeout=30).json()
    assert got["twoDays"] == 172800000, got
    assert got["msFrom"] == got["root"] + "/node_modules/ms/index.js", got
    assert "is-number" not in got["modules"], got
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*")) == before, "the source tree was written"


def test_the_fastapi_example_is_served(server, cache, tmp_path):
    app = tmp_path / "fastapi"
    shutil.copytree(ROOT / "examples" / "fastapi", app)
    out = deploy(server, cache, app).stdout
    assert "fastapi-api: packaged" in out and "MB;" in out, out
    root = requests.get(server.http + "/", timeout=30)
    assert root.status_code == 200 and root.json()["hello"] == "from FastAPI on ondol", root.text
    r = requests.post(server.http + "/items", json={"name": "cup", "price": 2.5}, timeout=30)
    assert r.status_code == 201 and r.json()["id"] == 2, r.text
    # pydantic's validation (pydantic-core is a compiled extension) answers a bad body.
    r = requests.post(server.http + "/items", json={"name": "cup", "price": "free"}, timeout=30)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "price"], r.text
    assert requests.get(server.http + "/items/99", timeout=30).status_code == 404


def test_a_uv_lock_is_exported_without_dev_and_a_missing_uv_is_named(server, cache, tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "builds-uv", app)
    # No uv on PATH: the error names it and the lock file.
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if not (Path(d) / "uv").exists())
    env = dict(os.environ, ONDOL_CACHE_DIR=str(cache), PATH=path)
    r = subprocess.run([BIN, "deploy", str(app), "--endpoint", server.api],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0
    assert f"functions.fn: {app / 'fn' / 'uv.lock'} needs uv, which is not installed here" in r.stderr, r.stderr
    # uv as a user gets it: from PyPI.
    tools = cache.parent / "uv-tool"
    if not (tools / "bin" / "uv").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(tools), "uv"],
                       check=True, timeout=300)
    env["PATH"] = f"{tools / 'bin'}{os.pathsep}{path}"
    r = subprocess.run([BIN, "deploy", str(app), "--endpoint", server.api],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "dependencies installed from uv.lock" in r.stdout, r.stdout
    got = requests.get(server.http + "/uv", timeout=30).json()
    assert got["idna"] == "3.7" and got["idna_file"].startswith(got["root"] + "/"), got
    assert got["six_shipped"] is False, "the dev group shipped"
