#!/usr/bin/env bash
# The web catalogue's pages beside the API's JSON for the same data, in one run: a synthetic catalogue in
# PostgreSQL (5,000 and 25,000 servers, about 20,000 and 100,000 versions), a release registry-api on
# 127.0.0.1, and wrk on loopback with 8 connections.
#   - Repeated pages (the page cache in memory, unchanged generations): the JSON first page of latest
#     versions, the catalogue's first page with its facet counts, and a server page.
#   - New queries (the cache off, so every request is read and rendered): a JSON search and a catalogue
#     search with facets, each request searching another of 250 name prefixes (about 100 servers each at
#     25,000 servers).
# Prints Markdown tables (see docs/benchmarks.md).
#
#   scripts/bench-ui.sh [DURATION_SECONDS]
#
# Needs PostgreSQL (TEST_DATABASE_URL's server) and wrk (`apt-get install wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=8
source scripts/bench-lib.sh

cargo build --release --quiet -p registry-server -p registry-admin -p registry-testkit --bin registry-api \
  --bin registry-admin --bin seed-catalogue

# A wrk script that searches another name prefix at each request: PATH then the prefix, e.g. /ui?q=mcp-
search_lua() {
  cat >"$1" <<LUA
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format("$2%03d", n % 250))
end
LUA
}

measure() { # URL [WRK-ARGS...]
  local url=$1 out
  shift
  wrk -t1 -c"$connections" -d3s "$@" "$url" >/dev/null
  out=$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$url")
  if printf '%s\n' "$out" | grep -q "Non-2xx"; then echo "error: $url answered other than 2xx: $out" >&2; exit 1; fi
  printf '%s\n' "$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

limits_off
for servers in 5000 25000; do
  bench_setup registry_bench_ui 18097
  seed=$(target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers "$servers")
  value() { printf '%s\n' "$seed" | sed -n "s/^$1=//p"; }
  psql -q "$url" -c "vacuum analyze"
  sample=$(value sample_name | sed 's/%2F/\//')
  search_lua "$work/json.lua" "/v0.1/servers?version=latest&search=mcp-"
  search_lua "$work/ui.lua" "/ui?q=mcp-"

  start_api
  json=$(measure "$base/v0.1/servers?version=latest")
  page=$(measure "$base/ui")
  server_page=$(measure "$base/ui/servers/$sample")
  kill "$server"; wait "$server" 2>/dev/null || true
  printf 'cache:\n  enabled: false\n' >>"$work/bench.yaml"
  start_api
  json_new=$(measure "$base" -s "$work/json.lua")
  ui_new=$(measure "$base" -s "$work/ui.lua")
  rss=$(awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$server/status")
  kill "$server"; wait "$server" 2>/dev/null || true
  server=

  echo
  echo "### $(value versions) versions in $(value servers) servers, $connections connections, ${duration} s per run"
  echo
  echo "| request | cache | p50 ms | p99 ms | requests/s | ÷ JSON |"
  echo "|---|---|---|---|---|---|"
  wrk_row "GET /v0.1/servers?version=latest | repeated" "$json" "1"
  wrk_row "GET /ui (first page, facet counts) | repeated" "$page" "$(ratio "$(rps "$page")" "$(rps "$json")")"
  wrk_row "GET /ui/servers/{name} | repeated" "$server_page" "$(ratio "$(rps "$server_page")" "$(rps "$json")")"
  wrk_row "GET /v0.1/servers?version=latest&search=… | off (a new query)" "$json_new" "1"
  wrk_row "GET /ui?q=… (facet counts) | off (a new query)" "$ui_new" "$(ratio "$(rps "$ui_new")" "$(rps "$json_new")")"
  echo
  echo "API peak RSS: $rss"
  rm -rf "$work"
done
