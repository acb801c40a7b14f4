"""TypeScript services deploy unchanged: `ondol deploy DIR` compiles them at
deploy with the project's own esbuild or tsc (serverless-esbuild,
serverless-plugin-typescript, SAM's `BuildMethod: esbuild`), ships the compiled
`.js` where the handler looks, and a compile error or a missing compiler fails
the deploy with status 2 and the compiler's own words."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import BIN

APPS = Path(__file__).parent / "apps"
# The npm projects of these apps (installed once per session, never committed).
NPM_DIRS = ["import-sls-ts-esbuild", "import-sls-ts-tsc", "import-sam-ts/hello-world"]


@pytest.fixture(scope="session", autouse=True)
def npm_ci():
    if shutil.which("npm") is None:
        pytest.skip("needs npm")
    for d in NPM_DIRS:
        if not (APPS / d / "node_modules" / ".bin").is_dir():
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APPS / d,
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stdout + r.stderr


def copy_app(tmp_path, name, modules=True):
    """A copy of the app whose node_modules link to the installed ones."""
    d = tmp_path / name
    shutil.copytree(APPS / name, d, ignore=shutil.ignore_patterns("node_modules"))
    if modules:
        for n in NPM_DIRS:
            if n.startswith(name):
                (tmp_path / n / "node_modules").symlink_to(APPS / n / "node_modules")
    return d


def deploy(server, d, *args):
    return subprocess.run([BIN, "deploy", str(d), *args, "--endpoint", server.api],
                          capture_output=True, text=True, timeout=300, env=os.environ)


def test_serverless_esbuild_template_deploys_unchanged(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-ts-esbuild")
    r = deploy(server, d)
    assert r.returncode == 0, r.stderr
    assert "mapped       plugins[0] (serverless-esbuild)" in r.stderr, r.stderr
    assert "mapped       custom.esbuild.minify" in r.stderr, r.stderr
    assert "unsupported  custom.esbuild.define" in r.stderr, r.stderr
    assert not list(d.rglob("*.js")), "nothing is written into the project"
    got = requests.post(f"{server.http}/hello", json={"name": "Ada"}, timeout=30)
    assert got.status_code == 200, got.text
    assert got.json() == {
        "message": "Hello Ada, welcome to the exciting Serverless world!",
        "httpMethod": "POST", "resource": "/hello",
        "file": "src/functions/hello/handler.js",
    }
    assert requests.get(f"{server.http}/hello", timeout=10).status_code == 404


def test_serverless_plugin_typescript_deploys_unchanged(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-ts-tsc")
    r = deploy(server, d)
    assert r.returncode == 0, r.stderr
    assert "mapped       plugins[0] (serverless-plugin-typescript)" in r.stderr, r.stderr
    assert not (d / ".build").exists() and not (d / "src" / "handler.js").exists()
    got = requests.get(f"{server.http}/hello/ada", timeout=30)
    assert got.status_code == 200, got.text
    assert got.json() == {"message": "Hello, ADA!", "routeKey": "GET /hello/{name}",
                          "version": "2.0"}


def test_sam_typescript_hello_world_deploys_unchanged(server, tmp_path):
    d = copy_app(tmp_path, "import-sam-ts")
    r = deploy(server, d)
    assert r.returncode == 0, r.stderr
    assert "mapped       Resources.HelloWorldFunction.Metadata.BuildMethod" in r.stderr
    got = requests.get(f"{server.http}/hello", timeout=30)
    assert got.status_code == 200, got.text
    assert got.json() == {"message": "hello world", "path": "/hello", "minified": True}


def test_a_type_error_fails_the_deploy_with_tscs_output(server, tmp_path):
    d = copy_app(tmp_path, "import-sls-ts-tsc")
    src = d / "src" / "greeting.ts"
    src.write_text(src.read_text().replace("name.toUpperCase()", "name.toUpperCase(1)"))
    r = deploy(server, d)
    assert r.returncode == 2, r.stderr
    assert "functions.hello.compile: tsc failed" in r.stderr, r.stderr
    assert "src/greeting.ts" in r.stderr and "error TS2554" in r.stderr, r.stderr
    assert requests.get(f"{server.http}/hello/ada", timeout=10).status_code == 404


def test_a_missing_compiler_names_it_and_npm_install(server, tmp_path):
    d = copy_app(tmp_path, "import-sam-ts", modules=False)
    r = deploy(server, d)
    assert r.returncode == 2, r.stderr
    assert "needs the project's own esbuild" in r.stderr, r.stderr
    assert "run `npm install`" in r.stderr, r.stderr


HANDLER = """
const fs = require('fs');
const has = (p) => fs.existsSync(`${__dirname}/${p}`);
exports.files = async () => ({
  statusCode: 200,
  body: JSON.stringify(Object.fromEntries(
    ['secrets/key.pem', 'secrets/public.txt', 'notes.md', 'docs/notes.md', 'handler.js']
      .map((p) => [p, has(p)]))),
});
"""

SLS = """service: sls-patterns
provider:
  name: aws
  runtime: nodejs20.x
package:
  patterns:
    - '!secrets/**'
    - secrets/public.txt
functions:
  files:
    handler: handler.files
    package:
      exclude:
        - notes.md
    events:
      - httpApi: GET /files
"""


def test_package_patterns_decide_what_is_shipped(server, tmp_path):
    d = tmp_path / "patterns"
    for name, text in {"serverless.yml": SLS, "handler.js": HANDLER,
                       "secrets/key.pem": "private", "secrets/public.txt": "public",
                       "notes.md": "root notes", "docs/notes.md": "docs"}.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    r = deploy(server, d)
    assert r.returncode == 0, r.stderr
    assert "mapped       package.patterns" in r.stderr, r.stderr
    got = requests.get(f"{server.http}/files", timeout=30)
    assert got.status_code == 200, got.text
    # Later patterns win; globs are relative to the service root.
    assert got.json() == {"secrets/key.pem": False, "secrets/public.txt": True,
                          "notes.md": False, "docs/notes.md": True, "handler.js": True}


def bomb(indent=""):
    """A "billion laughs": 9^10 strings from ten lines of aliases."""
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines + [f"{indent}x: *a9"]) + "\n"


@pytest.mark.parametrize("file,text", [
    ("serverless.yml", "service: bomb\nprovider: {name: aws, runtime: nodejs20.x}\n"
                       "custom:\n" + bomb("  ") + "functions: {}\n"),
    ("template.yaml", "Transform: AWS::Serverless-2016-10-31\nMetadata:\n" + bomb("  ")
                      + "Resources: {}\n"),
])
def test_an_alias_bomb_fails_fast_with_a_clear_error(tmp_path, file, text):
    if not Path("/usr/bin/time").exists():
        pytest.skip("needs /usr/bin/time to measure the memory used")
    (tmp_path / file).write_text(text)
    r = subprocess.run(["/usr/bin/time", "-f", "RSS_KB=%M", BIN, "import", str(tmp_path),
                        "--dry-run"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert "repetition limit exceeded" in r.stderr, r.stderr
    rss = int(r.stderr.rsplit("RSS_KB=", 1)[1].split()[0])
    assert rss < 200_000, f"{rss} KB to refuse it"


def test_self_reference_loops_end_and_are_reported(tmp_path):
    (tmp_path / "serverless.yml").write_text(
        "service: loop\nprovider: {name: aws, runtime: nodejs20.x}\n"
        "custom:\n  a: ${self:custom.b}\n  b: ${self:custom.a}\n"
        "functions:\n  f: {handler: h.h, environment: {X: '${self:custom.a}'}}\n")
    r = subprocess.run([BIN, "import", str(tmp_path), "--dry-run"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "unsupported  functions.f.environment.X: ${self:custom.a}" in r.stderr, r.stderr
