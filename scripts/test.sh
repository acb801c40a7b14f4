#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds, then runs the Rust
# tests and the end-to-end suite against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    # npm: the dependency-build tests install package-lock.json with it.
    apt-get update -qq && apt-get install -y -qq nodejs npm
fi
if ! command -v prometheus >/dev/null; then
    # The metrics tests scrape ondol with a real Prometheus server.
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus \
        || echo "prometheus could not be installed: tests/e2e/test_metrics.py will skip" >&2
fi
if ! command -v chromium >/dev/null; then
    # The console tests load every page in a real headless Chromium.
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
fi
if ! command -v pebble >/dev/null || ! command -v curl >/dev/null; then
    # The HTTPS tests get certificates from a real ACME server (Pebble, with
    # pebble-challtestsrv as its DNS) and fetch over HTTP/2 with curl.
    apt-get update -qq && apt-get install -y -qq --no-install-recommends pebble curl
fi
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb 3.8.0" ]; then
    # tests/e2e/test_deb.py builds and installs the .deb with it (pinned: its
    # maintainer-script snippets are part of what we ship).
    cargo install cargo-deb --version 3.8.0 --locked
fi
python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt
command -v pyenv >/dev/null && pyenv rehash || true

cargo fmt --check
# The binary embeds console/dist: it must be what console/src builds to.
(cd console && npm ci --silent && npm run build --silent >/dev/null)
[ -z "$(git status --porcelain -- console/dist)" ] || {
    echo "console/dist is not what console/src builds: run npm run build in console/ and commit dist" >&2
    exit 1
}
cargo build --workspace
cargo build --release -p rust-hello
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

ONDOL_BIN="$PWD/target/debug/ondol" python3 -m pytest tests/e2e -q -p no:cacheprovider "$@"
