#!/usr/bin/env bash
# Read-API benchmark: a synthetic catalogue of ~20,000 versions (5,000 servers) in PostgreSQL, a release build
# of registry-api on 127.0.0.1, and wrk on loopback. Prints a Markdown report (see docs/benchmarks.md).
#
#   scripts/bench.sh [DURATION_SECONDS]
#
# Needs PostgreSQL (TEST_DATABASE_URL's server) and wrk (`apt-get install wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
source scripts/bench-lib.sh

cargo build --release --quiet -p registry-server -p registry-admin -p registry-testkit --bin registry-api \
  --bin registry-admin --bin seed-catalogue
bench_setup registry_bench 18090
seed=$(target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers 5000)
value() { printf '%s\n' "$seed" | sed -n "s/^$1=//p"; }
psql -q "$url" -c "vacuum analyze"

start_api

declare -A paths=(
  ["first page"]="/v0.1/servers"
  ["deep page (row 15,000)"]="/v0.1/servers?cursor=$(value deep_cursor)"
  ["search=weather"]="/v0.1/servers?search=weather"
  ["version=latest"]="/v0.1/servers?version=latest"
  ["one version GET"]="/v0.1/servers/$(value sample_name)/versions/$(value sample_version)"
)
order=("first page" "deep page (row 15,000)" "search=weather" "version=latest" "one version GET")

measure() {
  local connections=$1 path=$2
  wrk -t1 -c"$connections" -d3s "$base$path" >/dev/null
  wrk_row "$3" "$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$base$path")"
}

echo "$(value versions) versions in $(value servers) servers, loaded in $(value seconds) s; ${duration}s per run"
for connections in 1 4 8; do
  echo
  echo "wrk -t1 -c$connections"
  echo
  echo "| request | p50 ms | p99 ms | requests/s |"
  echo "|---|---|---|---|"
  for name in "${order[@]}"; do
    measure "$connections" "${paths[$name]}" "$name"
  done
done
