#!/usr/bin/env bash
# Sync benchmark: a registry-api serving ~20,000 versions (the synthetic catalogue) on 127.0.0.1 is mirrored by
# `registry-worker run` through an `api` source into a second PostgreSQL database. Reports the first sync's
# time, an unchanged re-sync's time and rows written, and the worker's peak RSS. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

admin_url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
upstream_db="${admin_url%/*}/registry_bench_upstream"
mirror_db="${admin_url%/*}/registry_bench_mirror"
port=18091

for db in registry_bench_upstream registry_bench_mirror; do
  psql -q "$admin_url" -c "drop database if exists $db with (force)" -c "create database $db"
done
cargo build --release --quiet -p registry-server -p registry-admin -p registry-worker -p registry-testkit \
  --bin registry-api --bin registry-admin --bin registry-worker --bin seed-catalogue

work=$(mktemp -d)
stop() { for pid in "$@"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done; return 0; }
trap 'stop "${api:-}" "${worker:-}"; rm -rf "$work"' EXIT
cat > "$work/upstream.yaml" <<YAML
registries: [{name: catalogue, managed: {}}]
auth: {mode: anonymous}
database: {url: $upstream_db}
YAML
cat > "$work/mirror.yaml" <<YAML
registries:
  - name: mirror
    api: {endpoint: "http://127.0.0.1:$port", timeout: 30s}
    syncPolicy: {interval: 1h}
auth: {mode: anonymous}
database: {url: $mirror_db}
worker: {dataDir: $work}
YAML

admin=target/release/registry-admin
$admin migrate --config "$work/upstream.yaml" >/dev/null
$admin migrate --config "$work/mirror.yaml" >/dev/null
versions=$(target/release/seed-catalogue --config "$work/upstream.yaml" --registry catalogue --servers 5000 | sed -n 's/^versions=//p')
RUST_LOG=warn target/release/registry-api serve --config "$work/upstream.yaml" --address "127.0.0.1:$port" 2>/dev/null &
api=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/readiness" >/dev/null && break; sleep 0.2; done

# A field of the mirror registry's status, or None before the worker has stored it.
status() {
  $admin status --config "$work/mirror.yaml" -o json \
    | python3 -c "import json,sys; rows=json.load(sys.stdin); print(rows[0].get('$1') if rows else None)"
}
wait_for_success_after() {
  local before=$1
  for _ in $(seq 1 600); do
    local now
    now=$(status lastSuccessAt)
    if [ "$now" != "None" ] && [ "$now" != "$before" ]; then return; fi
    sleep 0.1
  done
  echo "the sync did not finish in 60 s" >&2; exit 1
}

started=$(date +%s.%N)
RUST_LOG=info LOG_FORMAT=text target/release/registry-worker run --config "$work/mirror.yaml" 2>"$work/worker.log" &
worker=$!
wait_for_success_after None
finished=$(date +%s.%N)
first_ms=$(status lastDurationMs)
servers=$(status serverCount)
first_success=$(status lastSuccessAt)

rows_before=$(psql -Atq "$mirror_db" -c "select count(*), max(updated_at) from server_version")
$admin enqueue-sync mirror --config "$work/mirror.yaml" >/dev/null
wait_for_success_after "$first_success"
second_ms=$(status lastDurationMs)
rows_after=$(psql -Atq "$mirror_db" -c "select count(*), max(updated_at) from server_version")
peak_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$worker/status")
kill -TERM "$worker"; wait "$worker" || true; worker=

echo "upstream: $versions versions served by registry-api on 127.0.0.1 (release build)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| first sync, job duration | $first_ms ms |"
python3 -c "print('| first sync, worker start to data served | %.1f s |' % ($finished - $started))"
echo "| versions stored | $servers |"
echo "| unchanged re-sync, job duration | $second_ms ms |"
if [ "$rows_before" = "$rows_after" ]; then echo "| rows written by the re-sync | 0 |"; else echo "| rows written by the re-sync | some ($rows_before -> $rows_after) |"; fi
echo "| worker peak RSS | $((peak_kb / 1024)) MiB |"
grep -o 'outcome=[A-Za-z]*' "$work/worker.log" | sort | uniq -c | sed 's/^/outcomes: /'
