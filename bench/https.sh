#!/usr/bin/env bash
# HTTPS and HTTP/2 on the front door side by side with nginx, in one run, on this machine.
# One self-signed certificate (ECDSA P-256, for `localhost`) serves both:
#   nginx terminating TLS (http2 on) → the hyper echo server (keep-alive upstream);
#   ondol --https → the same echo server binary in web mode (the same work: TLS, then a
#   plain HTTP/1.1 keep-alive hop to the same upstream);
#   ondol --https → the Rust lambda_runtime hello function (Runtime API; no nginx twin).
# Each is also measured over plain HTTP, so the table shows what TLS adds.
# Clients: wrk (HTTP/1.1 and HTTPS/1.1, OpenSSL) and h2load (nghttp2-client; HTTP/2 over
# TLS by ALPN, and its --h1 over plain HTTP as the same tool's baseline).
# Usage: bash bench/https.sh [seconds] [connections]     (prints a Markdown table)
#   ONDOL=path/to/ondol serves with another build.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
CONNS=${2:-8}
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v h2load >/dev/null ||
  { apt-get update -qq && apt-get install -y -qq wrk nginx nghttp2-client; }
cargo build --release -q -p ondol -p ondol-bench -p rust-hello

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null -m 1 "$@" && return 0; sleep 0.1; done; echo "not up: $*" >&2; return 1; }

# The one certificate. `localhost` resolves to 127.0.0.1 only here, and clients send it as SNI.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# The upstream for nginx.
DIRECT=$(port)
PORT=$DIRECT ./target/release/ondol-bench echo-server >/dev/null & pids+=($!)

# nginx: plain and TLS (HTTP/2 and HTTP/1.1 by ALPN), keep-alive to the upstream.
NGINX=$(port); NGINXS=$(port)
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;   # the default 1000 closes connections h2load does not reopen
  upstream app { server 127.0.0.1:$DIRECT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX;
    listen 127.0.0.1:$NGINXS ssl http2;
    ssl_protocols TLSv1.2 TLSv1.3;   # as ondol; nginx 1.22's default stops at TLS 1.2
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
nginx -c "$work/nginx.conf"

# ondol with the front-door benchmark app, plain and TLS with the same certificate.
cp -r bench/gateway-app "$work/app"
mkdir -p "$work/app/rust" "$work/app/web"   # git keeps no empty directories
cp target/release/bootstrap "$work/app/rust/bootstrap"
cp target/release/ondol-bench "$work/app/web/ondol-bench"
printf '#!/bin/sh\nexec "$(dirname "$0")/ondol-bench" echo-server\n' >"$work/app/web/echo-server"
chmod +x "$work/app/web/echo-server"
API=$(port); HTTP=$(port); HTTPS=$(port)
ONDOL_LOG=warn "${ONDOL:-./target/release/ondol}" serve --data-dir "$work/data" --api 127.0.0.1:$API \
  --http 127.0.0.1:$HTTP --https 127.0.0.1:$HTTPS --no-acme \
  --certificate "localhost=$work/cert.pem,$work/key.pem" >"$work/ondol.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$API/ondol/v1/info"
./target/release/ondol deploy "$work/app" --endpoint "http://127.0.0.1:$API" >/dev/null
wait_http -k "https://localhost:$NGINXS/x"
wait_http -k "https://localhost:$HTTPS/web/x"

threads() { echo $(( $1 < 2 ? 1 : 2 )); }

wrk_run() { # name proto url [extra wrk args]: prints "name|proto|conns|p50|p99|rps" per connection count
  local name=$1 proto=$2 url=$3; shift 3
  for c in 1 "$CONNS"; do
    wrk -t1 -c"$c" -d1s "$@" "$url" >/dev/null   # warm up (and start instances)
    local out; out=$(wrk -t"$(threads "$c")" -c"$c" -d"${SECS}s" --latency "$@" "$url")
    echo "$name|$proto|$c|$(awk '$1=="50%" {print $2}' <<<"$out")|$(awk '$1=="99%" {print $2}' <<<"$out")|$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  done
}

h2_run() { # name proto url [extra h2load args]: the same, p50/p99 from h2load's per-request log
  local name=$1 proto=$2 url=$3; shift 3
  for c in 1 "$CONNS"; do
    h2load -c"$c" -t"$(threads "$c")" -m1 -D1 "$@" "$url" >/dev/null
    local out; out=$(h2load -c"$c" -t"$(threads "$c")" -m1 -D"$SECS" --log-file="$work/h2.log" "$@" "$url")
    local rps; rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    awk -v n="$name" '/^TLS Protocol|^Cipher|^Server Temp Key/ {print n ": " $0}' <<<"$out" >>"$work/tls"
    grep -q ' 0 failed, 0 errored' <<<"$out" || echo "h2load saw failures for $name $url: $(grep '^requests:' <<<"$out")" >&2
    local pct; pct=$(sort -n -k3,3 "$work/h2.log" | awk '{d[NR]=$3} END {printf "%dus|%dus", d[int(NR*0.5)+1], d[int(NR*0.99)+1]}')
    echo "$name|$proto|$c|$pct|$rps"
  done
}

{
for t in "nginx → hyper server|$NGINX|$NGINXS|/x" \
         "ondol → hyper server (web mode)|$HTTP|$HTTPS|/web/x" \
         "ondol → Rust function (Runtime API)|$HTTP|$HTTPS|/rust"; do
  IFS='|' read -r name plain tls path <<<"$t"
  wrk_run "$name" "HTTP/1.1" "http://127.0.0.1:$plain$path"
  wrk_run "$name" "HTTPS/1.1" "https://localhost:$tls$path"
  h2_run "$name" "h2load HTTP/1.1" "http://127.0.0.1:$plain$path" --h1
  h2_run "$name" "HTTP/2 (TLS)" "https://localhost:$tls$path"
done
# A new connection per request: the handshake is the cost (wrk does not resume sessions).
wrk_run "nginx → hyper server" "HTTP/1.1, new connection each" "http://127.0.0.1:$NGINX/x" -H "Connection: close"
wrk_run "nginx → hyper server" "HTTPS/1.1, new connection each" "https://localhost:$NGINXS/x" -H "Connection: close"
wrk_run "ondol → hyper server (web mode)" "HTTP/1.1, new connection each" "http://127.0.0.1:$HTTP/web/x" -H "Connection: close"
wrk_run "ondol → hyper server (web mode)" "HTTPS/1.1, new connection each" "https://localhost:$HTTPS/web/x" -H "Connection: close"
} >"$work/results"

python3 - "$work/results" "$CONNS" <<'PY'
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
conns = sys.argv[2]
def ms(v):
    v = v.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[:-len(unit)]) * f
    return float(v)
def get(name, proto, c):
    for r in rows:
        if r[0].startswith(name) and r[1] == proto and r[2] == c:
            return ms(r[3]), ms(r[4]), float(r[5])
    return None
base = {"HTTPS/1.1": "HTTP/1.1", "HTTP/2 (TLS)": "h2load HTTP/1.1",
        "HTTPS/1.1, new connection each": "HTTP/1.1, new connection each"}
print("| target | protocol (client) | connections | p50 | p99 | requests/s | p50 added by TLS |")
print("|---|---|---|---|---|---|---|")
for name, proto, c, *_ in rows:
    p50, p99, rps = get(name, proto, c)
    added = ""
    if proto in base and (b := get(name, base[proto], c)):
        added = f"{p50 - b[0]:+.3f} ms"
    client = "h2load" if proto.startswith("h2load") or proto.startswith("HTTP/2") else "wrk"
    label = proto.replace("h2load ", "") + f" ({client})"
    print(f"| {name} | {label} | {c} | {p50:.3f} ms | {p99:.3f} ms | {rps:,.0f} | {added} |")
print()
print(f"ondol ÷ nginx, web mode (the same upstream behind both):")
for proto in ("HTTP/1.1", "HTTPS/1.1", "h2load HTTP/1.1", "HTTP/2 (TLS)",
              "HTTP/1.1, new connection each", "HTTPS/1.1, new connection each"):
    o, n = get("ondol → hyper", proto, conns), get("nginx", proto, conns)
    o1, n1 = get("ondol → hyper", proto, "1"), get("nginx", proto, "1")
    print(f"- {proto}: throughput at {conns} connections {o[2] / n[2]:.2f}×; "
          f"p50 at 1 connection {o1[0]:.3f} vs {n1[0]:.3f} ms")
PY
echo
echo "Negotiated by h2load:"; sort -u "$work/tls" | sed 's/^/- /'
