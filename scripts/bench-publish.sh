#!/usr/bin/env bash
# Publish benchmark: a release build of registry-api on 127.0.0.1 over PostgreSQL, wrk POSTing server.json
# documents that are each new (a Lua script numbers them per thread). Prints a Markdown report (see
# docs/benchmarks.md).
#
#   scripts/bench-publish.sh [DURATION_SECONDS]
#
# Needs PostgreSQL (TEST_DATABASE_URL's server) and wrk (`apt-get install wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
source scripts/bench-lib.sh

cargo build --release --quiet -p registry-server -p registry-admin --bin registry-api --bin registry-admin
bench_setup registry_bench_publish 18091
start_api

# SHAPE picks the documents: `servers` (a new server each), `remotes` (a new server each, with a remote URL
# of its own, so the uniqueness check runs) or `versions` (new versions of one server, all on its lock).
cat > "$work/publish.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
local shape = os.getenv("SHAPE")
local prefix = os.getenv("PREFIX")
request = function()
  counter = counter + 1
  local name, version, extra = string.format("io.example.bench/%s-%d-%d", prefix, id, counter), "1.0.0", ""
  if shape == "versions" then
    name, version = "io.example.bench/" .. prefix, string.format("%d.%d.0", id, counter)
  elseif shape == "remotes" then
    extra = string.format(',"remotes":[{"type":"streamable-http","url":"https://mcp.example.com/%s/%d/%d"}]', prefix, id, counter)
  end
  local body = string.format('{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",'
    .. '"name":"%s","description":"A benchmark server","version":"%s"%s}', name, version, extra)
  return wrk.format("POST", "/registry/bench/v0.1/publish", {["Content-Type"] = "application/json"}, body)
end
LUA

# publish SHAPE CONNECTIONS LABEL: one run, with the count of answers other than 201 appended.
run=0
publish() {
  run=$((run + 1))
  local out refused
  out=$(SHAPE=$1 PREFIX="r$run" wrk -t"$2" -c"$2" -d"${duration}s" --latency -s "$work/publish.lua" "$base")
  refused=$(printf '%s\n' "$out" | awk '/Non-2xx/ { print $5 }')
  wrk_row "$3" "$out" "${refused:-0}"
}

stored() { psql -Atq "$url" -c "select count(*) from server_version"; }

echo "${duration}s per run; every document is new, so every answer should be 201"
limits_off
echo
echo "| documents | p50 ms | p99 ms | publishes/s | not 201 |"
echo "|---|---|---|---|---|"
for connections in 1 4; do
  publish servers "$connections" "new servers, $connections connection(s)"
  publish remotes "$connections" "new servers with a remote URL, $connections connection(s), $(stored) rows stored"
  publish versions "$connections" "new versions of one server, $connections connection(s)"
done
echo
echo "$(stored) versions stored at the end; the largest server has $(psql -Atq "$url" -c \
  "select max(n) from (select count(*) n from server_version group by name) s") versions"
