"""Lambda layers through boto3 and the aws CLI: publish, get, list, delete, version
numbers that never come back; functions (Python and Node) importing from their
layers at /opt, in order; Lambda's limits and refusals; a deleted version that
keeps serving the functions that use it."""
import base64
import io
import json
import os
import subprocess
import zipfile

import botocore.exceptions
import pytest
import requests

from conftest import AWS, BIN, zip_dir

SANDBOXED = os.geteuid() == 0

PY_PROBE = b'''
import json, os, shutil, subprocess, sys
def handler(event, context):
    out = {"path": sys.path, "env_path": os.environ.get("PATH"),
           "ld": os.environ.get("LD_LIBRARY_PATH")}
    import shared
    out["shared"] = shared.WHO
    try:
        import only_in_two
        out["two"] = only_in_two.X
    except ImportError as e:
        out["two"] = None
    tool = shutil.which("layer-tool")
    out["tool"] = subprocess.run([tool], capture_output=True, text=True).stdout.strip() if tool else None
    try:
        open("/opt/written-by-function", "w").write("x")
        out["wrote_opt"] = True
    except OSError as e:
        out["wrote_opt"] = type(e).__name__ + ": " + str(e)
    return out
'''

NODE_PROBE = b'''
exports.handler = async () => {
  const shared = require("shared");
  return { shared: shared.who, nodePath: process.env.NODE_PATH };
};
'''


def layer_zip(files):
    """A layer archive of {path: bytes}; files under bin/ are executable."""
    return zip_dir(None, files)


def shared_layer(who=b"layer one"):
    return layer_zip({
        "python/shared.py": b"WHO = " + repr(who.decode()).encode() + b"\n",
        "nodejs/node_modules/shared/index.js": b"exports.who = " + json.dumps(who.decode()).encode() + b";\n",
        "bin/layer-tool": b"#!/bin/sh\necho tool from " + who + b"\n",
    })


def publish(lam, name, zip_bytes, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes}, **kw)


def create_fn(lam, name, runtime, handler, code, layers):
    lam.create_function(
        FunctionName=name, Runtime=runtime, Handler=handler, Role="arn:aws:iam::000000000000:role/x",
        Code={"ZipFile": code}, Layers=layers, Timeout=10)


def invoke(lam, name, qualifier=None):
    kw = {"Qualifier": qualifier} if qualifier else {}
    r = lam.invoke(FunctionName=name, Payload=b"{}", **kw)
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    return body


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_publish_get_list_delete_and_numbers_never_come_back(server):
    lam = server.client()
    v1 = publish(lam, "deps", shared_layer(), Description="first", CompatibleRuntimes=["python3.11"],
                 CompatibleArchitectures=["x86_64"], LicenseInfo="MIT")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == 1
    assert v1["LayerArn"] == "arn:aws:lambda:us-east-1:000000000000:layer:deps"
    assert v1["LayerVersionArn"] == v1["LayerArn"] + ":1"
    assert v1["CompatibleRuntimes"] == ["python3.11"] and v1["LicenseInfo"] == "MIT"
    assert v1["Content"]["CodeSize"] == len(shared_layer())
    v2 = publish(lam, "deps", shared_layer(b"two"), CompatibleRuntimes=["nodejs20.x"])
    assert v2["Version"] == 2

    got = lam.get_layer_version(LayerName="deps", VersionNumber=1)
    assert got["Description"] == "first" and got["Content"]["CodeSha256"] == v1["Content"]["CodeSha256"]
    by_arn = lam.get_layer_version_by_arn(Arn=v2["LayerVersionArn"])
    assert by_arn["Version"] == 2
    # The zip behind Content.Location is the one published.
    z = requests.get(server.api + got["Content"]["Location"], timeout=10)
    assert z.status_code == 200 and z.content == shared_layer()

    versions = lam.list_layer_versions(LayerName="deps")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    assert "Content" not in versions[0]
    py = lam.list_layer_versions(LayerName="deps", CompatibleRuntime="python3.11")["LayerVersions"]
    assert [v["Version"] for v in py] == [1]
    page = lam.list_layer_versions(LayerName="deps", MaxItems=1)
    assert [v["Version"] for v in page["LayerVersions"]] == [2]
    rest = lam.list_layer_versions(LayerName="deps", Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1] and "NextMarker" not in rest
    layers = lam.list_layers()["Layers"]
    assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in layers] == [("deps", 2)]
    matching = lam.list_layers(CompatibleRuntime="python3.11")["Layers"]
    assert matching[0]["LatestMatchingVersion"]["Version"] == 1

    assert lam.delete_layer_version(LayerName="deps", VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"] == 204
    # Deleting again, or what never existed, is a 204 too (as Lambda).
    lam.delete_layer_version(LayerName="deps", VersionNumber=2)
    lam.delete_layer_version(LayerName="nothing", VersionNumber=7)
    code, msg = error_of(lambda: lam.get_layer_version(LayerName="deps", VersionNumber=2))
    assert (code, msg) == ("ResourceNotFoundException", "The resource you requested does not exist.")
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="deps")["LayerVersions"]] == [1]
    # Version numbers are never given again, even after a delete and a restart.
    server.stop()
    server.start()
    lam = server.client()
    assert publish(lam, "deps", shared_layer())["Version"] == 3

    assert error_of(lambda: lam.get_layer_version(LayerName="deps", VersionNumber=0)) == (
        "InvalidParameterValueException", "Layer Version Cannot be less than 1")
    code, msg = error_of(lambda: lam.get_layer_version_by_arn(
        Arn="arn:aws:lambda:us-east-1:000000000000:layer:deps"))
    assert code == "ValidationException" and "at 'arn'" in msg
    code, _ = error_of(lambda: lam.list_layers(CompatibleRuntime="cobol85"))
    assert code == "ValidationException"
    code, _ = error_of(lambda: publish(lam, "deps", shared_layer(), CompatibleArchitectures=["sparc"]))
    assert code == "ValidationException"


def test_the_aws_cli_publishes_and_lists_layers(server, tmp_path):
    z = tmp_path / "layer.zip"
    z.write_bytes(shared_layer())
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1")

    def aws(*args):
        r = subprocess.run([*AWS, "--endpoint-url", server.api, "lambda", *args, "--output", "json"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else None

    out = aws("publish-layer-version", "--layer-name", "cli", "--zip-file", f"fileb://{z}",
              "--compatible-runtimes", "python3.11", "nodejs20.x")
    assert out["Version"] == 1
    assert aws("list-layer-versions", "--layer-name", "cli")["LayerVersions"][0]["Version"] == 1
    assert aws("get-layer-version-by-arn", "--arn", out["LayerVersionArn"])["Version"] == 1
    aws("delete-layer-version", "--layer-name", "cli", "--version-number", "1")
    assert aws("list-layers")["Layers"] == []


def test_one_layer_shared_by_a_python_and_a_node_function(server):
    lam = server.client()
    arn = publish(lam, "shared", shared_layer())["LayerVersionArn"]
    create_fn(lam, "py", "python3.11", "app.handler", zip_dir(None, {"app.py": PY_PROBE}), [arn])
    create_fn(lam, "js", "nodejs20.x", "index.handler", zip_dir(None, {"index.js": NODE_PROBE}), [arn])

    cfg = lam.get_function(FunctionName="py")["Configuration"]
    assert cfg["Layers"] == [{"Arn": arn, "CodeSize": len(shared_layer())}]
    assert lam.get_function_configuration(FunctionName="js")["Layers"][0]["Arn"] == arn
    listed = {f["FunctionName"]: f.get("Layers") for f in lam.list_functions()["Functions"]}
    assert listed["py"][0]["Arn"] == arn

    py = invoke(lam, "py")
    assert py["shared"] == "layer one"
    assert py["tool"] == "tool from layer one", "bin/ of the layers is on PATH"
    opt = "/opt" if SANDBOXED else None
    if opt:
        assert py["path"][:3] == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python"]
        assert py["env_path"].endswith(":/opt/bin")
        assert py["ld"].split(":")[-1] == "/opt/lib"
    js = invoke(lam, "js")
    assert js["shared"] == "layer one"
    if opt:
        assert js["nodePath"].startswith("/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules")


@pytest.mark.skipif(not SANDBOXED, reason="a read-only /opt is the sandbox's mount")
def test_a_function_cannot_write_to_opt(server):
    lam = server.client()
    arn = publish(lam, "shared", shared_layer())["LayerVersionArn"]
    create_fn(lam, "py", "python3.11", "app.handler", zip_dir(None, {"app.py": PY_PROBE}), [arn])
    out = invoke(lam, "py")
    assert out["wrote_opt"] is not True and "Read-only file system" in out["wrote_opt"], out


def test_a_later_layer_wins_and_a_version_keeps_its_layers(server):
    lam = server.client()
    one = publish(lam, "one", shared_layer(b"layer one"))["LayerVersionArn"]
    two = publish(lam, "two", layer_zip({
        "python/lib/python3.11/site-packages/shared.py": b"WHO = 'layer two'\n",
        "python/only_in_two.py": b"X = 2\n",
    }))["LayerVersionArn"]
    create_fn(lam, "py", "python3.11", "app.handler", zip_dir(None, {"app.py": PY_PROBE}), [one, two])
    out = invoke(lam, "py")
    # site-packages comes before python/ on sys.path, and a later layer's file wins.
    assert out["shared"] == "layer two" and out["two"] == 2
    v1 = lam.publish_version(FunctionName="py")["Version"]
    assert [l["Arn"] for l in lam.get_function(FunctionName="py", Qualifier=v1)["Configuration"]["Layers"]] == [one, two]
    lam.update_function_configuration(FunctionName="py", Layers=[two, one])
    lam.get_waiter("function_updated_v2").wait(FunctionName="py")
    out = invoke(lam, "py")
    assert out["shared"] == "layer two", "site-packages still first"
    lam.update_function_configuration(FunctionName="py", Layers=[])
    out_latest = lam.invoke(FunctionName="py", Payload=b"{}")
    assert out_latest.get("FunctionError") and b"shared" in out_latest["Payload"].read()
    # The published version still runs with the layers it was published with.
    assert invoke(lam, "py", v1)["two"] == 2


def test_layers_are_refused_as_lambda_refuses_them(server):
    lam = server.client()
    code = zip_dir(None, {"app.py": PY_PROBE})
    a1 = publish(lam, "a", shared_layer())["LayerVersionArn"]
    a2 = publish(lam, "a", shared_layer())["LayerVersionArn"]
    many = [publish(lam, f"l{i}", shared_layer())["LayerVersionArn"] for i in range(6)]

    def create(layers):
        return error_of(lambda: create_fn(lam, "f", "python3.11", "app.handler", code, layers))

    assert create(many) == ("InvalidParameterValueException", "Cannot reference more than 5 layers.")
    code_, msg = create([a1, a2])
    assert code_ == "InvalidParameterValueException"
    assert msg == (f"Two different versions of the same layer are not allowed to be referenced in the "
                   f"same function. {a1} and {a2} are versions of the same layer.")
    missing = "arn:aws:lambda:us-east-1:000000000000:layer:a:9"
    assert create([missing]) == ("InvalidParameterValueException", f"Layer version {missing} does not exist.")
    code_, msg = create(["arn:aws:lambda:us-east-1:123456789012:layer:theirs:1"])
    assert code_ == "InvalidParameterValueException" and "does not exist" in msg and "000000000000" in msg
    assert create(["arn:aws:lambda:eu-west-1:000000000000:layer:a:1"]) == (
        "InvalidParameterValueException",
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1.")
    code_, _ = create(["arn:aws:lambda:us-east-1:000000000000:layer:a"])
    assert code_ == "ValidationException"
    # Nothing was created by any of these.
    assert error_of(lambda: lam.get_function(FunctionName="f"))[0] == "ResourceNotFoundException"


def test_a_hostile_layer_zip_is_refused_like_code(server):
    lam = server.client()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("python/ok.py", b"x = 1\n")
        z.writestr("../../../../tmp/escaped-by-layer", b"owned")
    code_, msg = error_of(lambda: publish(lam, "evil", buf.getvalue()))
    assert code_ == "InvalidParameterValueException" and "escaped-by-layer" in msg, msg
    assert not os.path.exists("/tmp/escaped-by-layer")
    assert lam.list_layers()["Layers"] == []
    # The refused archive took no number.
    assert publish(lam, "evil", shared_layer())["Version"] == 1


def zeros_layer(name, mb):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(f"data/{name}.bin", "w") as f:
            chunk = bytes(1024 * 1024)
            for _ in range(mb):
                f.write(chunk)
    return buf.getvalue()


def test_code_and_layers_over_250_mb_unzipped_are_refused(server):
    lam = server.client()
    # Each under the limit alone, together over it; compressed they are small.
    big = publish(lam, "big", zeros_layer("big", 130))["LayerVersionArn"]
    bigger = publish(lam, "bigger", zeros_layer("bigger", 120))["LayerVersionArn"]
    code = zip_dir(None, {"app.py": PY_PROBE})
    code_, msg = error_of(lambda: create_fn(lam, "f", "python3.11", "app.handler", code, [big, bigger]))
    assert code_ == "InvalidParameterValueException"
    prefix = ("Function code combined with layers exceeds the maximum allowed size of "
              "262144000 bytes. The actual size is ")
    assert msg.startswith(prefix) and msg.endswith(" bytes."), msg
    # Both layers (250 MiB of zeros together) plus the code.
    assert int(msg[len(prefix):-len(" bytes.")]) > 250 * 1024 * 1024
    create_fn(lam, "f", "python3.11", "app.handler", code, [big])
    code_, _ = error_of(lambda: lam.update_function_configuration(FunctionName="f", Layers=[big, bigger]))
    assert code_ == "InvalidParameterValueException"


def test_a_deleted_layer_version_keeps_serving_its_functions(server):
    lam = server.client()
    arn = publish(lam, "kept", shared_layer(b"kept"))["LayerVersionArn"]
    create_fn(lam, "py", "python3.11", "app.handler", zip_dir(None, {"app.py": PY_PROBE}), [arn])
    assert invoke(lam, "py")["shared"] == "kept"
    lam.delete_layer_version(LayerName="kept", VersionNumber=1)
    assert error_of(lambda: lam.get_layer_version_by_arn(Arn=arn))[0] == "ResourceNotFoundException"
    # A new instance (a configuration change starts a new pool) still finds it,
    # and so does a restarted server.
    lam.update_function_configuration(FunctionName="py", MemorySize=256)
    assert invoke(lam, "py")["shared"] == "kept"
    server.stop()
    server.start()
    lam = server.client()
    assert invoke(lam, "py")["shared"] == "kept"
    # The function keeps it through other changes, but no new function may take it.
    lam.update_function_configuration(FunctionName="py", Layers=[arn], Timeout=20)
    code_, _ = error_of(lambda: create_fn(lam, "other", "python3.11", "app.handler",
                                          zip_dir(None, {"app.py": PY_PROBE}), [arn]))
    assert code_ == "InvalidParameterValueException"
    files = server.data_dir / "layers" / "v" / "kept" / "1"
    assert files.is_dir()
    # Once nothing uses it, its files go.
    lam.delete_function(FunctionName="py")
    assert not files.exists()
    assert publish(lam, "kept", shared_layer())["Version"] == 2


def test_layers_work_without_the_sandbox(make_server):
    server = make_server(args=["--sandbox", "off"])
    lam = server.client()
    arn = publish(lam, "shared", shared_layer(b"host"))["LayerVersionArn"]
    create_fn(lam, "py", "python3.11", "app.handler", zip_dir(None, {"app.py": PY_PROBE}), [arn])
    create_fn(lam, "js", "nodejs20.x", "index.handler", zip_dir(None, {"index.js": NODE_PROBE}), [arn])
    out = invoke(lam, "py")
    assert out["shared"] == "host" and out["tool"] == "tool from host"
    merged = str(server.data_dir / "layers" / "merged")
    assert any(p.startswith(merged) for p in out["path"]), out["path"]
    assert invoke(lam, "js")["shared"] == "host"


MANIFEST = """
app = "shop"

[layers.deps]
code = "deps"
description = "shared helpers"

[functions.py]
runtime = "python3.11"
handler = "app.handler"
code = "py"
timeout = "10s"
layers = ["deps"]

[functions.js]
runtime = "nodejs20.x"
handler = "index.handler"
code = "js"
layers = ["deps"]
"""


def write_app(root, who):
    for rel, data in {
        "ondol.toml": MANIFEST.encode(),
        "py/app.py": PY_PROBE,
        "js/index.js": NODE_PROBE,
        "deps/python/shared.py": b"WHO = " + repr(who).encode() + b"\n",
        "deps/nodejs/node_modules/shared/index.js": b"exports.who = " + json.dumps(who).encode() + b";\n",
        "deps/bin/layer-tool": b"#!/bin/sh\necho tool\n",
    }.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "deps/bin/layer-tool").chmod(0o755)


def test_the_manifest_publishes_a_layer_only_when_it_changed(server, tmp_path):
    app = tmp_path / "app"
    write_app(app, "from the manifest")
    out = server.cli("deploy", str(app)).stdout
    assert "layer deps: version 1 published" in out, out
    lam = server.client()
    assert invoke(lam, "shop-py", "live")["shared"] == "from the manifest"
    assert invoke(lam, "shop-js", "live")["shared"] == "from the manifest"
    layer = lam.get_layer_version(LayerName="shop-deps", VersionNumber=1)
    assert layer["Description"] == "shared helpers"
    cfg = lam.get_function(FunctionName="shop-py", Qualifier="live")["Configuration"]
    assert [l["Arn"] for l in cfg["Layers"]] == [layer["LayerVersionArn"]]

    # Unchanged: no new layer version, no new function versions.
    again = server.cli("deploy", str(app)).stdout
    assert "layer deps: unchanged (version 1)" in again, again
    assert "shop-py: unchanged" in again and "shop-js: unchanged" in again, again
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="shop-deps")["LayerVersions"]] == [1]

    # The layer changes: a new version, and new versions of both functions that use it.
    before = lam.get_alias(FunctionName="shop-py", Name="live")["FunctionVersion"]
    write_app(app, "changed")
    third = server.cli("deploy", str(app)).stdout
    assert "layer deps: version 2 published" in third, third
    assert lam.get_alias(FunctionName="shop-py", Name="live")["FunctionVersion"] != before
    assert invoke(lam, "shop-py", "live")["shared"] == "changed"
    assert invoke(lam, "shop-js", "live")["shared"] == "changed"
    # The version the live alias left keeps its own layer version.
    assert invoke(lam, "shop-py", before)["shared"] == "from the manifest"


def test_a_manifest_naming_an_unknown_layer_is_refused_with_a_suggestion(server, tmp_path):
    app = tmp_path / "app"
    write_app(app, "x")
    (app / "ondol.toml").write_text(MANIFEST.replace('layers = ["deps"]\n\n[functions.js]',
                                                     'layers = ["dep"]\n\n[functions.js]'))
    r = server.cli("deploy", str(app), check=False)
    assert r.returncode != 0
    assert "ondol.toml: functions.py.layers[0]: expected the name of a [layers.NAME] table" in r.stderr, r.stderr
    assert 'did you mean "deps"?' in r.stderr, r.stderr
    lam = server.client()
    assert lam.list_layers()["Layers"] == [], "nothing published"


DEPS_MANIFEST = """
app = "lib"

[layers.deps]
code = "deps"
compatible_runtimes = ["python3.11"]

[functions.py]
runtime = "python3.11"
handler = "app.handler"
code = "py"
timeout = "10s"
layers = ["deps"]
"""

DEPS_PROBE = b"""
import idna
def handler(event, context):
    return {"file": idna.__file__, "encoded": idna.encode("ko.example").decode()}
"""


def test_a_layers_requirements_are_installed_into_its_python_dir(server, tmp_path):
    app = tmp_path / "app"
    for rel, data in {"ondol.toml": DEPS_MANIFEST.encode(), "py/app.py": DEPS_PROBE,
                      "deps/requirements.txt": b"idna==3.6\n"}.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_bytes(data)
    env = {"ONDOL_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([BIN, "deploy", str(app), "--endpoint", server.api], capture_output=True,
                       text=True, timeout=600, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    out = invoke(server.client(), "lib-py", "live")
    assert out["file"].startswith("/opt/python/idna/"), out  # Lambda's /opt/python
    assert out["encoded"] == "ko.example", out
    # Dependencies need to know which Python to install for.
    (app / "ondol.toml").write_text(DEPS_MANIFEST.replace('compatible_runtimes = ["python3.11"]\n', ""))
    r = subprocess.run([BIN, "deploy", str(app), "--endpoint", server.api], capture_output=True,
                       text=True, timeout=600, env={**os.environ, **env})
    assert r.returncode != 0 and "layers.deps" in r.stderr and "compatible_runtimes" in r.stderr, r.stderr
