"""The operator's docs against the binary: every `ondol serve` setting is documented,
and no example tells users to serve production traffic with a framework's dev server."""
import re
import subprocess

from conftest import BIN, ROOT

SERVER_DOCS = ["limits.md", "operations.md", "tls.md"]
DEV_SERVERS = [r"\bflask\b[^\n]*\brun\b", r"\bapp\.run\(", r"manage\.py runserver"]


def serve_flags():
    out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]+)", out, re.M))
    return flags - {"--help"}


def test_every_serve_flag_is_documented_for_operators():
    text = "\n".join((ROOT / "docs" / d).read_text() for d in SERVER_DOCS if (ROOT / "docs" / d).exists())
    flags = serve_flags()
    assert len(flags) > 20, flags
    missing = sorted(f for f in flags if f"`{f}" not in text)
    assert missing == [], f"undocumented in docs/{{{','.join(SERVER_DOCS)}}}: {missing}"


def test_the_api_row_says_how_to_open_it_off_loopback():
    row = next(l for l in (ROOT / "docs" / "limits.md").read_text().splitlines() if l.startswith("| `--api`"))
    assert "for now" not in row and "credentials" in row, row


def test_no_example_serves_with_a_development_server():
    found = []
    for path in [*(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*"), ROOT / "README.md"]:
        if not path.is_file() or path.suffix not in {".md", ".toml", ".py", ".sh", ".json", ".yml"}:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if any(re.search(p, line) for p in DEV_SERVERS) and "not a framework" not in line:
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == [], "\n".join(found)
