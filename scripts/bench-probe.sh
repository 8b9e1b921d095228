#!/usr/bin/env bash
# The prober at scale: a file registry of 1,000 servers, each with one Streamable HTTP remote on loopback, all
# answered by a release registry-api's own /mcp (rmcp, stateless: server/discover, then tools/list of 6
# tools), probed by a release registry-worker on PostgreSQL. Two passes: the first of the new versions with
# the defaults (perHostConcurrency 1, so one host's remotes go one at a time), then a full pass with
# perHostConcurrency 4, which `registry-admin migrate` applies and which runs at once. For each: probes per
# second (from the first probe's start to the last's end, as recorded) and the worker's peak RSS (VmHWM).
# Prints a Markdown table (see docs/benchmarks.md).
#
#   scripts/bench-probe.sh [REMOTES]
#
# Needs PostgreSQL (TEST_DATABASE_URL's server). Nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

remotes=${1:-1000}
source scripts/bench-lib.sh

cargo build --release --quiet -p registry-server -p registry-admin -p registry-worker --bin registry-api \
  --bin registry-admin --bin registry-worker
bench_setup registry_bench_probe 18095
python3 - "$remotes" "$base" >"$work/remotes.json" <<'PY'
import json, sys
count, base = int(sys.argv[1]), sys.argv[2]
print(json.dumps([{"name": f"io.example.bench/remote-{i:04d}", "description": "a probed remote", "version": "1.0.0",
                   "remotes": [{"type": "streamable-http", "url": f"{base}/mcp?remote={i}"}]} for i in range(count)]))
PY
# configure PER_HOST: the bench registry (the stand-in's) and the probed one, whose remotes are on loopback.
configure() {
  cat >"$work/bench.yaml" <<YAML
registries:
  - name: bench
    managed: {}
  - name: remotes
    file: {path: $work/remotes.json}
    syncPolicy: {interval: 1h}
    probe: {enabled: true, allowPrivateIP: true, perHostConcurrency: $1}
auth:
  mode: anonymous
rateLimits:
  enabled: false
database:
  url: $url
  maxOpenConns: 16
worker: {probeConcurrency: 4, dataDir: $work/worker}
YAML
  target/release/registry-admin migrate --config "$work/bench.yaml" >/dev/null
}
sql() { psql -Atq "$url" -c "$1"; }

configure 1
start_api
limits_off
echo
printf '| pass | perHostConcurrency | probeConcurrency | remotes | seconds | probes/s | worker peak RSS (MiB) |\n'
printf '|---|---|---|---|---|---|---|\n'
# run LABEL PER_HOST: waits for `remotes` results recorded since the run began, then prints its row.
run() {
  local since worker done row
  since=$(sql "select now()")
  REGISTRY_SERVER__INTERNAL_ADDRESS=127.0.0.1:18096 RUST_LOG=warn \
    target/release/registry-worker run --config "$work/bench.yaml" 2>"$work/worker.log" &
  worker=$!
  for _ in $(seq 1 600); do
    done=$(sql "select count(*) from probe_result where registry = 'remotes' and probed_at >= '$since'")
    [ "$done" -ge "$remotes" ] && break
    sleep 0.5
  done
  [ "$done" -ge "$remotes" ] || { echo "error: $done of $remotes probed in 300 s" >&2; tail "$work/worker.log" >&2; exit 1; }
  local bad
  bad=$(sql "select count(*) from probe_result where registry = 'remotes' and probed_at >= '$since' and outcome <> 'ok'")
  [ "$bad" -eq 0 ] || { echo "error: $bad probes did not end ok" >&2; exit 1; }
  row=$(sql "select round(extract(epoch from max(probed_at + duration_ms * interval '1 millisecond') - min(probed_at))::numeric, 2)
             from probe_result where registry = 'remotes' and probed_at >= '$since'")
  local rss
  rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$worker/status")
  kill "$worker"
  wait "$worker" 2>/dev/null || true
  printf '| %s | %s | 4 | %s | %s | %s | %s |\n' "$1" "$2" "$remotes" "$row" \
    "$(awk -v n="$remotes" -v s="$row" 'BEGIN { printf "%.0f", n / s }')" "$rss"
}
run "new versions" 1
configure 4
run "full pass" 4
