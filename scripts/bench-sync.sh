#!/usr/bin/env bash
# Sync benchmark at scale. For each size (servers; about four versions each), a registry-api on 127.0.0.1
# serves the synthetic catalogue from its own PostgreSQL database, and `registry-worker run` mirrors it through
# an `api` source into a second one. It reports the first sync (worker start to data served, and the worker's
# peak RSS), an incremental re-sync after 100 upstream changes (duration, requests, rows written), an
# unchanged full scrape (duration, rows written; once diffed, once skipped by its digest), and the read p99
# of the mirror's first page, 8 connections, idle and while another registry's first sync of the same size
# commits. With `file MB`, it syncs a generated file of about MB megabytes instead and reports the worker's
# peak RSS. See docs/benchmarks.md.
#
#   scripts/bench-sync.sh [SERVERS...]     (default: 5000 25000 250000, about 20k, 100k and 1M versions)
#   scripts/bench-sync.sh file [MB]        (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."

admin_url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
upstream_db="${admin_url%/*}/registry_bench_upstream"
mirror_db="${admin_url%/*}/registry_bench_mirror"
upstream_port=18091
upstream_internal=18092
mirror_port=18093
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet -p registry-server -p registry-admin -p registry-worker -p registry-testkit \
  --bin registry-api --bin registry-admin --bin registry-worker --bin seed-catalogue
admin=target/release/registry-admin

work=$(mktemp -d)
stop() { for pid in "$@"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; return 0; }
trap 'stop "${upstream:-}" "${worker:-}" "${reader:-}"; rm -rf "$work"' EXIT

fresh_databases() {
  for db in registry_bench_upstream registry_bench_mirror; do
    PGOPTIONS=--client-min-messages=warning psql -q "$admin_url" -c "drop database if exists $db with (force)" \
      -c "create database $db"
  done
}

# mirror_config FULL_SYNC_INTERVAL [REGISTRY...]: the mirror's configuration, with api registries of those
# names (default: mirror) over the upstream.
mirror_config() {
  local full=$1
  shift
  {
    echo "registries:"
    for name in "${@:-mirror}"; do
      printf '  - name: %s\n    api: {endpoint: "http://127.0.0.1:%s", timeout: 60s}\n' "$name" "$upstream_port"
      printf '    syncPolicy: {interval: 24h, fullSyncInterval: %s}\n' "$full"
    done
    printf 'auth: {mode: anonymous}\ndatabase: {url: %s}\nworker: {dataDir: %s, jobTimeout: 30m}\n' \
      "$mirror_db" "$work"
    printf 'cache: {enabled: false}\nserver: {internalAddress: "127.0.0.1:0"}\n'
  } >"$work/mirror.yaml"
  RUST_LOG=error $admin migrate --config "$work/mirror.yaml" >/dev/null
}

# status REGISTRY FIELD: a field of a registry's sync status, or None.
status() {
  $admin status --config "$work/mirror.yaml" -o json | python3 -c "
import json, sys
rows = [r for r in json.load(sys.stdin) if r['name'] == '$1']
value = rows[0].get('$2') if rows else None
print(json.dumps(value) if isinstance(value, (dict, list)) else value)"
}

# last_success_sql REGISTRY: the query for when the registry last synced, or None.
last_success_sql() { echo "select coalesce(max(last_success_at)::text, 'None') from sync_status where registry = '$1'"; }

# watch SECONDS SQL: the one-value query SQL, every SECONDS, in one session, each value on a line (until
# its reader stops reading, 30 min at most). Waiting this way takes next to nothing from the machine being
# measured (a `registry-admin status` and a python3 per poll took about 40% of its busy CPU in a sync).
watch() { { printf '%s\n' "$2" "\\watch $1" | timeout 1800 psql -Atq "$mirror_db" || true; }; }

# wait_success REGISTRY BEFORE: until the registry's last success is not BEFORE.
wait_success() {
  if ! watch 0.1 "$(last_success_sql "$1")" \
    | awk -v before="$2" '$0 != "" && $0 != "None" && $0 != before { found = 1; exit } END { exit !found }'; then
    echo "$1 did not sync in 30 min" >&2
    exit 1
  fi
}

# resync REGISTRY: queues a sync and waits for it; prints its job duration in ms.
resync() {
  local before
  before=$(psql -Atq "$mirror_db" -c "$(last_success_sql "$1")")
  $admin enqueue-sync "$1" --config "$work/mirror.yaml" >/dev/null
  wait_success "$1" "$before"
  status "$1" lastDurationMs
}

upstream_requests() {
  curl -fs "http://127.0.0.1:$upstream_internal/metrics" \
    | awk '/^http_requests_total\{/ && /route="\/v0.1\/servers"/ { n += $NF } END { printf "%d", n }'
}

rows_signature() { psql -Atq "$mirror_db" -c "select count(*), max(updated_at) from server_version where registry = 'mirror'"; }

peak_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }

start_worker() {
  RUST_LOG=info LOG_FORMAT=text target/release/registry-worker run --config "$work/mirror.yaml" \
    2>>"$work/worker.log" &
  worker=$!
}

# p99 over 10 s of the mirror's first page, 8 connections, in ms.
read_p99() {
  local out
  out=$(wrk -t2 -c8 -d10s --latency "http://127.0.0.1:$mirror_port/registry/mirror/v0.1/servers?limit=30")
  to_ms "$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')"
}
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

one_size() {
  local servers=$1
  fresh_databases
  cat >"$work/upstream.yaml" <<YAML
registries: [{name: catalogue, managed: {}}]
auth: {mode: anonymous}
# The mirror pages through it from one address, as fast as it can.
rateLimits: {enabled: false}
database: {url: $upstream_db}
server: {internalAddress: "127.0.0.1:$upstream_internal"}
YAML
  $admin migrate --config "$work/upstream.yaml" >/dev/null
  local seeded versions
  seeded=$(target/release/seed-catalogue --config "$work/upstream.yaml" --registry catalogue --servers "$servers")
  versions=$(printf '%s\n' "$seeded" | sed -n 's/^versions=//p')
  RUST_LOG=warn target/release/registry-api serve --config "$work/upstream.yaml" \
    --address "127.0.0.1:$upstream_port" 2>"$work/upstream.log" &
  upstream=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$upstream_port/readiness" >/dev/null && break; sleep 0.2; done

  mirror_config 24h
  RUST_LOG=warn target/release/registry-api serve --config "$work/mirror.yaml" --address "127.0.0.1:$mirror_port" \
    2>"$work/reader.log" &
  reader=$!

  local started finished first_ms first_peak
  started=$(date +%s.%N)
  start_worker
  wait_success mirror None
  finished=$(date +%s.%N)
  first_ms=$(status mirror lastDurationMs)
  first_peak=$(peak_mib "$worker")
  local first_steps
  first_steps=$(grep 'snapshot applied' "$work/worker.log" | tail -n 1 | sed -n 's/.*steps=//p' | tr -d '"')

  # 100 upstream changes: versions deprecated through the upstream's store.
  target/release/seed-catalogue --config "$work/upstream.yaml" --registry catalogue --servers "$servers" \
    --deprecate 100 >/dev/null
  local requests_before incremental_ms requests changed_before changed
  requests_before=$(upstream_requests)
  changed_before=$(psql -Atq "$mirror_db" -c "select count(*) from server_version where status = 'deprecated'")
  incremental_ms=$(resync mirror)
  requests=$(($(upstream_requests) - requests_before))
  changed=$(($(psql -Atq "$mirror_db" -c "select count(*) from server_version where status = 'deprecated'") - changed_before))

  # Unchanged full scrapes: the first after pulls of changes diffs (its digest is not comparable), the next
  # is skipped by its digest.
  mirror_config 1s
  local before_rows diffed_ms after_diffed skipped_ms after_skipped
  before_rows=$(rows_signature)
  diffed_ms=$(resync mirror)
  after_diffed=$(rows_signature)
  skipped_ms=$(resync mirror)
  after_skipped=$(rows_signature)
  mirror_config 24h

  # Reads while a sync of the same size commits: a second registry over the same upstream.
  local idle_p99 busy_p99
  idle_p99=$(read_p99)
  mirror_config 24h mirror second
  # Counting a million staged rows is work of its own: every half second only.
  watch 0.5 "select count(*) from sync_staging where registry = 'second'" \
    | awk -v versions="$versions" '$0 + 0 >= versions + 0 { exit }'
  busy_p99=$(read_p99)
  wait_success second None
  local second_ms overall_peak
  second_ms=$(status second lastDurationMs)
  overall_peak=$(peak_mib "$worker")
  stop "$worker" "$reader" "$upstream"
  worker= reader= upstream=

  echo
  echo "### $versions versions ($servers servers)"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| first sync, job duration | $((first_ms / 1000)).$(((first_ms % 1000) / 100)) s |"
  python3 -c "print('| first sync, worker start to data served | %.1f s |' % ($finished - $started))"
  echo "| worker peak RSS after the first sync | $first_peak MiB |"
  echo "| first sync's snapshot transaction, by step | $first_steps |"
  echo "| incremental re-sync after 100 upstream changes | $incremental_ms ms, $requests requests, $changed versions changed |"
  echo "| unchanged full scrape, diffed | $diffed_ms ms, rows written: $([ "$before_rows" = "$after_diffed" ] && echo 0 || echo "some ($before_rows -> $after_diffed)") |"
  echo "| unchanged full scrape, skipped by its digest | $skipped_ms ms, rows written: $([ "$after_diffed" = "$after_skipped" ] && echo 0 || echo some) |"
  echo "| read p99, first page, 8 connections, idle | $idle_p99 ms |"
  echo "| read p99, the same, while a second registry's first sync ($second_ms ms) commits | $busy_p99 ms |"
  echo "| worker peak RSS over the whole run | $overall_peak MiB |"
}

file_size() {
  local mb=$1
  fresh_databases
  local servers=$((mb * 1024 * 1024 / 2200))
  target/release/seed-catalogue --servers "$servers" --write-file "$work/catalogue.json" >/dev/null
  local bytes
  bytes=$(stat -c %s "$work/catalogue.json")
  cat >"$work/mirror.yaml" <<YAML
registries:
  - name: mirror
    file: {path: $work/catalogue.json}
    syncPolicy: {interval: 24h}
auth: {mode: anonymous}
database: {url: $mirror_db}
worker: {dataDir: $work, jobTimeout: 30m}
server: {internalAddress: "127.0.0.1:0"}
YAML
  $admin migrate --config "$work/mirror.yaml" >/dev/null
  local started finished
  started=$(date +%s.%N)
  start_worker
  wait_success mirror None
  finished=$(date +%s.%N)
  local peak stored
  peak=$(peak_mib "$worker")
  stored=$(status mirror serverCount)
  stop "$worker"
  worker=
  echo
  echo "### A file of $((bytes / 1024 / 1024)) MiB ($stored versions)"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  python3 -c "print('| worker start to data served | %.1f s |' % ($finished - $started))"
  echo "| worker peak RSS | $peak MiB |"
}

echo "Run on $(nproc) cores, $(date -u +%F); upstream API, worker, reader and PostgreSQL share them."
echo "Rate limits off on the upstream API (\`rateLimits.enabled: false\`): the worker sends from one address."
if [ "${1:-}" = file ]; then
  file_size "${2:-300}"
else
  for servers in "${@:-5000 25000 250000}"; do
    # shellcheck disable=SC2086
    for s in $servers; do one_size "$s"; done
  done
fi
