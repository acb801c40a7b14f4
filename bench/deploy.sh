#!/usr/bin/env bash
# Deploy time of the example app (examples/shop: Python, Node and web-mode
# functions) against a local ondol: first deploy, a one-function change, an
# unchanged redeploy, then a second stage (prod) beside it: its first deploy and an
# unchanged redeploy of it. Each is `ondol deploy` end to end (package, upload, publish,
# warm, switch), timed by the shell, median of N runs on fresh servers.
# Usage: bash bench/deploy.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release -q -p ondol
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# The shell's own clock: starting a timer process would add ~40 ms to every figure.
ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }
first=(); change=(); same=(); stage=(); stage_same=()
for i in $(seq "$RUNS"); do
  work=$(mktemp -d)
  cp -r examples/shop "$work/app"
  API=$(port); HTTP=$(port)
  ONDOL_LOG=warn ./target/release/ondol serve --data-dir "$work/data" --api 127.0.0.1:$API --http 127.0.0.1:$HTTP >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$API/ondol/v1/info" && break; sleep 0.05; done
  dep() { local t0; t0=$(ms); ./target/release/ondol deploy "$work/app" --endpoint "http://127.0.0.1:$API" "$@" >/dev/null; echo $(( $(ms) - t0 )); }
  first+=("$(dep)")
  sed -i 's/!/!!/' "$work/app/hello/app.py"
  change+=("$(dep)")
  same+=("$(dep)")
  stage+=("$(dep --stage prod)")
  stage_same+=("$(dep --stage prod)")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$work"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| deploy of examples/shop (3 functions) | median of $RUNS |"
echo "|---|---|"
echo "| first deploy (create, upload, publish, warm 3 versions, switch) | $(median "${first[@]}") ms |"
echo "| one function changed | $(median "${change[@]}") ms |"
echo "| unchanged redeploy | $(median "${same[@]}") ms |"
echo "| first deploy of stage prod beside it (publish, warm 3 versions, switch) | $(median "${stage[@]}") ms |"
echo "| unchanged redeploy of stage prod | $(median "${stage_same[@]}") ms |"
