#!/usr/bin/env bash
# The front door side by side, in one run, with wrk (Debian), on this machine:
#   the hyper echo server directly; nginx proxying to it; ondol → it in web mode;
#   ondol's gateway → the Rust lambda_runtime hello function; ondol's Invoke API →
#   the same function; `cargo lambda watch` (PyPI cargo-lambda) → the same function.
# Usage: bash bench/gateway.sh [seconds] [connections]     (prints a Markdown table)
#   ONDOL=path/to/ondol serves with another build (e.g. the previous release) for a
#   side-by-side comparison; the CLI that deploys is always this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
CONNS=${2:-8}
command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx; }
command -v cargo-lambda >/dev/null || python3 -m pip install -q cargo-lambda
cargo build --release -q -p ondol -p ondol-bench -p rust-hello

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null -m 1 "$@" && return 0; sleep 0.1; done; echo "not up: $*" >&2; return 1; }

# The plain server.
DIRECT=$(port)
PORT=$DIRECT ./target/release/ondol-bench echo-server >/dev/null & pids+=($!)

# nginx in front of it, keep-alive to the upstream.
NGINX=$(port)
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server 127.0.0.1:$DIRECT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -c "$work/nginx.conf"

# ondol with the benchmark app.
cp -r bench/gateway-app "$work/app"
mkdir -p "$work/app/rust" "$work/app/web"   # git keeps no empty directories
cp target/release/bootstrap "$work/app/rust/bootstrap"
cp target/release/ondol-bench "$work/app/web/ondol-bench"
printf '#!/bin/sh\nexec "$(dirname "$0")/ondol-bench" echo-server\n' >"$work/app/web/echo-server"
chmod +x "$work/app/web/echo-server"
API=$(port); HTTP=$(port)
ONDOL_LOG=warn "${ONDOL:-./target/release/ondol}" serve --data-dir "$work/data" --api 127.0.0.1:$API --http 127.0.0.1:$HTTP >"$work/ondol.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$API/ondol/v1/info"
./target/release/ondol deploy "$work/app" --endpoint "http://127.0.0.1:$API" >/dev/null

# cargo lambda watch serving the same function.
CL=$(port)
(cd fixtures/rust-hello && exec cargo lambda watch --release --ignore-changes -P "$CL" -A 127.0.0.1) >"$work/cl.log" 2>&1 & pids+=($!)
wait_http -X POST -d '{}' "http://127.0.0.1:$CL/2015-03-31/functions/bootstrap/invocations"

run() { # name url [extra wrk args]: prints "name|conns|p50|p99|rps"
  local name=$1 url=$2; shift 2
  for c in 1 "$CONNS"; do
    wrk -t1 -c"$c" -d1s "$@" "$url" >/dev/null   # warm up (and start instances)
    local t=$(( c < 2 ? 1 : 2 ))
    local out; out=$(wrk -t"$t" -c"$c" -d"${SECS}s" --latency "$@" "$url")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    echo "$name|$c|$p50|$p99|$rps"
  done
}

{
run "hyper server, direct" "http://127.0.0.1:$DIRECT/x"
run "nginx → hyper server" "http://127.0.0.1:$NGINX/x"
run "ondol → hyper server (web mode)" "http://127.0.0.1:$HTTP/web/x"
run "ondol gateway → Rust function (Runtime API)" "http://127.0.0.1:$HTTP/rust"
run "ondol Invoke API → Rust function" "http://127.0.0.1:$API/2015-03-31/functions/bench-rust/invocations" -s bench/post.lua
run "cargo lambda watch → Rust function" "http://127.0.0.1:$CL/2015-03-31/functions/bootstrap/invocations" -s bench/post.lua
} >"$work/results"

echo "| target | connections | p50 | p99 | requests/s |"
echo "|---|---|---|---|---|"
awk -F'|' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$work/results"
echo
python3 - "$work/results" "$CONNS" <<'PY'
import sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
conns = sys.argv[2]
def ms(v):
    v = v.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[:-len(unit)]) * f
    return float(v)
def get(name, c):
    for r in rows:
        if r[0].startswith(name) and r[1] == c:
            return ms(r[2]), float(r[4])
d1, _ = get("hyper server, direct", "1")
_, dn = get("hyper server, direct", conns)
_, nginx = get("nginx", conns)
w1, web = get("ondol → hyper", conns)[0], get("ondol → hyper", conns)[1]
wp50 = get("ondol → hyper", "1")[0]
_, rt = get("ondol gateway", conns)
_, cl = get("cargo lambda", conns)
_, inv = get("ondol Invoke", conns)
print(f"- web mode vs nginx throughput ({conns} connections): {web / nginx:.2f}×")
print(f"- Runtime-API gateway vs nginx: {rt / nginx:.2f}×; Invoke API vs cargo lambda watch: {inv / cl:.2f}×; gateway vs cargo lambda: {rt / cl:.2f}×")
print(f"- added p50 latency over direct at 1 connection: web mode {wp50 - d1:+.3f} ms (nginx {get('nginx', '1')[0] - d1:+.3f} ms)")
PY
