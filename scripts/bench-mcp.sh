#!/usr/bin/env bash
# The MCP endpoint beside the REST read of the same page, in one run: a synthetic catalogue in PostgreSQL
# (5,000 servers, about 20,000 versions), a release registry-api on 127.0.0.1 with its page cache in memory,
# and wrk on loopback with 8 connections: `GET /v0.1/servers?version=latest` (the first page of latest
# versions) against `tools/call search_servers {}` (the same page) over `POST /mcp`, each call with a new
# JSON-RPC id, as a client sends them. Both are cache hits after the warm-up: the MCP calls are answered
# again from memory (mcp/replay.rs). A third run writes each id as `N.0`, which rmcp writes back as `N`, so
# no answer is replayed and every call goes through rmcp (its data read still a page cache hit). Prints a
# Markdown table (see docs/benchmarks.md).
#
#   scripts/bench-mcp.sh [DURATION_SECONDS]
#
# Needs PostgreSQL (TEST_DATABASE_URL's server) and wrk (`apt-get install wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=8
source scripts/bench-lib.sh

cargo build --release --quiet -p registry-server -p registry-admin -p registry-testkit --bin registry-api \
  --bin registry-admin --bin seed-catalogue
bench_setup registry_bench_mcp 18091
seed=$(target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers 5000)
versions=$(printf '%s\n' "$seed" | sed -n 's/^versions=//p')
psql -q "$url" -c "vacuum analyze"
start_api

call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_servers","arguments":{}}}'
# mcp_lua FILE ID-FORMAT: a wrk script that sends the call with a new id each time.
mcp_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('${call/\"id\":1/\"id\":$2}', n))
end
LUA
}
mcp_lua "$work/mcp.lua" "%d"
mcp_lua "$work/mcp-rmcp.lua" "%d.0"
# Both answer, with the same servers, before anything is measured.
rest_names=$(curl -fs "$base/v0.1/servers?version=latest" | python3 -c 'import json,sys; print([s["server"]["name"] for s in json.load(sys.stdin)["servers"]])')
mcp_names=$(curl -fs -X POST "$base/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H 'mcp-protocol-version: 2025-06-18' -d "$call" \
  | python3 -c 'import json,sys; print([s["name"] for s in json.load(sys.stdin)["result"]["structuredContent"]["servers"]])')
[ "$rest_names" = "$mcp_names" ] || { echo "error: the two reads list different servers" >&2; exit 1; }

measure() { # LABEL WRK-ARGS...
  local label=$1 out
  shift
  wrk -t1 -c"$connections" -d3s "$@" >/dev/null
  out=$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$@")
  if printf '%s\n' "$out" | grep -q "Non-2xx"; then echo "error: $label answered other than 2xx: $out" >&2; exit 1; fi
  printf '%s\n' "$out"
}
rest=$(measure rest "$base/v0.1/servers?version=latest")
mcp=$(measure mcp -s "$work/mcp.lua" "$base/mcp")
rmcp=$(measure rmcp -s "$work/mcp-rmcp.lua" "$base/mcp")

echo
limits_off
echo
echo "### The first page of latest versions: REST and MCP, $versions versions, $connections connections, ${duration} s per run"
echo
echo "| read | p50 ms | p99 ms | requests/s |"
echo "|---|---|---|---|"
wrk_row "GET /v0.1/servers?version=latest" "$rest"
wrk_row "POST /mcp tools/call search_servers" "$mcp"
wrk_row "POST /mcp tools/call search_servers, through rmcp (not replayed)" "$rmcp"
echo
awk -v r="$(rps "$rest")" -v m="$(rps "$mcp")" -v x="$(rps "$rmcp")" \
  'BEGIN { printf "MCP costs %.2f times the REST read (requests/s of REST ÷ MCP); through rmcp, %.2f times\n", r / m, r / x }'
