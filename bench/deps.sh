#!/usr/bin/env bash
# Deploys with dependencies (examples/fastapi: FastAPI + Mangum from
# requirements.txt, installed by pip from the registry) against a local ondol:
# the first deploy on an empty cache (pip downloads, installs, compiles), an
# unchanged redeploy (nothing installed), one requirement changed (that
# function reinstalled; downloads come from the cache), and `ondol build` alone
# when nothing changed; then FastAPI's cold start with and without the bytecode
# the build compiles (bench/deps_coldstart.py). Each deploy is the CLI end to
# end, timed by the shell, median
# of N runs, each on a fresh server and a fresh ONDOL_CACHE_DIR.
# Usage: bash bench/deps.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
cargo build --release -q -p ondol
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }
first=(); same=(); change=(); build=()
for i in $(seq "$RUNS"); do
  work=$(mktemp -d)
  cp -r examples/fastapi "$work/app"
  export ONDOL_CACHE_DIR="$work/cache"
  API=$(port); HTTP=$(port)
  ONDOL_LOG=warn ./target/release/ondol serve --data-dir "$work/data" --api 127.0.0.1:$API --http 127.0.0.1:$HTTP >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$API/ondol/v1/info" && break; sleep 0.05; done
  dep() { local t0; t0=$(ms); ./target/release/ondol deploy "$work/app" --endpoint "http://127.0.0.1:$API" >/dev/null; echo $(( $(ms) - t0 )); }
  first+=("$(dep)")
  curl -sf "http://127.0.0.1:$HTTP/" >/dev/null
  same+=("$(dep)")
  echo "python-multipart==0.0.20" >> "$work/app/api/requirements.txt"
  change+=("$(dep)")
  t0=$(ms); ./target/release/ondol build --dir "$work/app" >/dev/null; build+=("$(( $(ms) - t0 ))")
  if [ "$i" = 1 ]; then
    site=$(ls -d "$ONDOL_CACHE_DIR"/deps/python3.11-*/site | head -1)
    cold=$(python3 bench/deps_coldstart.py "http://127.0.0.1:$API" "$site" 5)
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$work"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| deploy of examples/fastapi (FastAPI + Mangum, requirements.txt) | median of $RUNS |"
echo "|---|---|"
echo "| first deploy, empty cache (pip download + install + compile, upload, warm) | $(median "${first[@]}") ms |"
echo "| unchanged redeploy (dependencies from the cache, nothing uploaded) | $(median "${same[@]}") ms |"
echo "| one requirement added (that function reinstalled, downloads cached) | $(median "${change[@]}") ms |"
echo "| \`ondol build\`, nothing changed | $(median "${build[@]}") ms |"
echo
echo "| cold start, same server (median of 5) | |"
echo "|---|---|"
echo "$cold"
