#!/usr/bin/env bash
# The production shape on one machine, as processes: PostgreSQL (TEST_DATABASE_URL's server, a database of
# the cluster's own), a Redis of its own on a free port, `registry-admin migrate` once, two `registry-api`
# replicas behind nginx as the load balancer, and one `registry-worker`.
#
#   scripts/cluster.sh              start, print the URLs, run until Ctrl-C, then stop
#   scripts/cluster.sh up DIR       start in the background; DIR/cluster.env says where everything is
#   scripts/cluster.sh down DIR     stop what `up DIR` started and drop its database
#
# BIN_DIR picks the binaries (default target/release, built when missing). The cluster serves a managed
# registry `internal` and a file registry `files` whose source is DIR/files.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nginx-lib.sh

: "${TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
: "${BIN_DIR:=target/release}"
export PGOPTIONS="-c client_min_messages=warning"
command=${1:-run}
dir=${2:-}

say() { printf '==> %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_until WHAT URL: until URL answers 2xx, for at most 30 s.
wait_until() {
  for _ in $(seq 1 300); do curl -fs "$2" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "error: $1 did not answer $2 within 30 s; its log is in $dir" >&2
  exit 1
}

# spawn NAME COMMAND...: runs COMMAND in the background with its output in DIR/NAME.log, and records its pid.
spawn() {
  local name=$1
  shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo "${name^^}_PID=$!" >>"$dir/cluster.env"
}

up() {
  for tool in nginx redis-server psql curl python3; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
      echo "error: $tool is needed: apt-get install nginx-light redis-server postgresql-client curl python3" >&2
      exit 1
    }
  done
  if [ ! -x "$BIN_DIR/registry-api" ] || [ ! -x "$BIN_DIR/registry-worker" ] || [ ! -x "$BIN_DIR/registry-admin" ]; then
    say "building the release binaries"
    cargo build --release --locked --bin registry-api --bin registry-worker --bin registry-admin
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  : >"$dir/cluster.env"
  # Whatever started is stopped again if the rest does not come up.
  trap 'echo "error: the cluster did not come up; stopping what started (logs in $dir)" >&2; down' EXIT
  local database="registry_cluster_$$"
  local database_url="${TEST_DATABASE_URL%/*}/$database"
  psql -q "$TEST_DATABASE_URL" -c "drop database if exists $database with (force)" -c "create database $database"
  local redis_port api_a api_b lb
  redis_port=$(free_port)
  api_a=$(free_port)
  api_b=$(free_port)
  lb=$(free_port)
  internal_a=$(free_port)
  internal_b=$(free_port)
  internal_worker=$(free_port)
  cat >>"$dir/cluster.env" <<ENV
DATABASE=$database
DATABASE_URL=$database_url
REDIS_URL=redis://127.0.0.1:$redis_port
API_A_URL=http://127.0.0.1:$api_a
API_B_URL=http://127.0.0.1:$api_b
LB_URL=http://127.0.0.1:$lb
API_A_INTERNAL_URL=http://127.0.0.1:$internal_a
API_B_INTERNAL_URL=http://127.0.0.1:$internal_b
WORKER_INTERNAL_URL=http://127.0.0.1:$internal_worker
CONFIG=$dir/registry.yaml
FILE_SOURCE=$dir/files.json
ENV
  echo '[]' >"$dir/files.json"
  cat >"$dir/registry.yaml" <<YAML
registryName: cluster
registries:
  - name: internal
    managed: {}
  - name: files
    file: {path: $dir/files.json}
    syncPolicy: {interval: 1h}
auth: {mode: anonymous}
# The limits are on, counted in the cluster's Redis, but raised: the load through nginx comes from one
# address, and must not meet them.
rateLimits:
  reads: {perMinute: 60000, burst: 100000}
  search: {perMinute: 60000, burst: 100000}
  writes: {perMinute: 60000, burst: 100000}
  tokenExchanges: {perMinute: 60000, burst: 100000}
  mcp: {perMinute: 60000, burst: 100000}
database:
  url: $database_url
redis:
  url: redis://127.0.0.1:$redis_port
worker:
  dataDir: $dir/worker
shutdown: {drain: 0s, grace: 5s}
YAML
  spawn redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no
  say "migrating $database"
  "$BIN_DIR/registry-admin" migrate --config "$dir/registry.yaml" >"$dir/migrate.log"
  # Each process has an internal listener (metrics, probes) on a port of its own.
  REGISTRY_SERVER__INTERNAL_ADDRESS="127.0.0.1:$internal_a" \
    spawn api_a "$BIN_DIR/registry-api" serve --config "$dir/registry.yaml" --address "127.0.0.1:$api_a"
  REGISTRY_SERVER__INTERNAL_ADDRESS="127.0.0.1:$internal_b" \
    spawn api_b "$BIN_DIR/registry-api" serve --config "$dir/registry.yaml" --address "127.0.0.1:$api_b"
  REGISTRY_SERVER__INTERNAL_ADDRESS="127.0.0.1:$internal_worker" \
    spawn worker "$BIN_DIR/registry-worker" run --config "$dir/registry.yaml"
  nginx_start "$dir/nginx" "$lb" 'location / {
      proxy_pass http://registry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_next_upstream error timeout;
    }' "upstream registry {
    server 127.0.0.1:$api_a max_fails=0;
    server 127.0.0.1:$api_b max_fails=0;
    keepalive 16;
  }"
  echo "NGINX_PID=$nginx_pid" >>"$dir/cluster.env"
  wait_until "replica A" "http://127.0.0.1:$api_a/readiness"
  wait_until "replica B" "http://127.0.0.1:$api_b/readiness"
  wait_until "nginx" "http://127.0.0.1:$lb/readiness"
  trap - EXIT
  say "up: load balancer http://127.0.0.1:$lb (replicas :$api_a and :$api_b), Redis :$redis_port, database $database"
  cat "$dir/cluster.env"
}

down() {
  [ -f "$dir/cluster.env" ] || { echo "error: no cluster in $dir" >&2; return 1; }
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
  local pids=()
  for name in NGINX API_A API_B WORKER REDIS; do
    local var="${name}_PID"
    [ -n "${!var:-}" ] && pids+=("${!var}")
  done
  kill "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "${DATABASE:-}" ]; then
    psql -q "$TEST_DATABASE_URL" -c "drop database if exists $DATABASE with (force)"
  fi
  say "down: $dir"
}

case "$command" in
  up)
    [ -n "$dir" ] || { echo "usage: scripts/cluster.sh up DIR" >&2; exit 2; }
    up
    ;;
  down)
    [ -n "$dir" ] || { echo "usage: scripts/cluster.sh down DIR" >&2; exit 2; }
    down
    ;;
  run)
    dir=$(mktemp -d)
    up
    trap 'down; rm -rf "$dir"' EXIT
    say "Ctrl-C stops the cluster"
    wait
    ;;
  *)
    echo "usage: scripts/cluster.sh [up DIR | down DIR]" >&2
    exit 2
    ;;
esac
