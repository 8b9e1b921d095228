#!/usr/bin/env bash
# Read-API benchmark, side by side with nginx serving the exact bytes the API returned for the same requests.
# A synthetic catalogue in PostgreSQL (20,000 versions, then 100,000), a release build of registry-api on
# 127.0.0.1 in three modes (page cache in memory, no cache, Redis only), nginx (one worker, access_log off,
# sendfile on) and wrk on loopback. Prints a Markdown report (see docs/benchmarks.md).
#
#   scripts/bench.sh [DURATION_SECONDS] [metrics]
#   scripts/bench.sh [DURATION_SECONDS] fixed [API_BINARY...]
#
# With `metrics`, only the cost of metrics: the first page, cached and uncached, with metrics.enabled on and
# off, in five rounds that alternate the four modes (one process per run), reported as the median of each.
# With `fixed`, only the fixed cost of a request, for each API binary given (default: this tree's release
# build) beside nginx: the first page cached and uncached and /health, 20,000 versions, 8 connections, the
# median of three rounds that alternate the servers. Save a build's binary elsewhere to compare it later.
#
# Needs PostgreSQL (TEST_DATABASE_URL's server), redis-server, nginx and wrk
# (`apt-get install redis-server nginx-light wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
source scripts/bench-lib.sh
source scripts/nginx-lib.sh
for tool in redis-server nginx wrk psql curl python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "$tool is missing: apt-get install redis-server nginx-light wrk" >&2; exit 1; }
done

cargo build --release --quiet -p registry-server -p registry-admin -p registry-testkit --bin registry-api \
  --bin registry-admin --bin seed-catalogue

# nginx_up ROOT PORT: nginx serving the files in ROOT as application/json, once it answers.
nginx_up() {
  nginx_start "$work/nginx" "$2" "root $1; default_type application/json;" \
    "sendfile on; tcp_nopush on; keepalive_requests 1000000;"
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$2/first.json" >/dev/null && break; sleep 0.1; done
  # The same bytes, or the comparison means nothing.
  curl -fs "http://127.0.0.1:$2/first.json" | cmp -s - "$1/first.json" || { echo "nginx does not serve $1" >&2; exit 1; }
}

# api_mode MODE [BINARY]: restarts the API (BINARY, default this tree's release build) on $port with the cache mode's config: memory (the default page cache),
# none (cache.enabled: false) or redis (cache.memoryBytes: 0 and the private Redis); MODE-nometrics also
# sets metrics.enabled: false.
api_mode() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
  cp "$work/bench.yaml" "$work/mode.yaml"
  case "$1" in
    *-nometrics) printf 'metrics: {enabled: false}\n' >>"$work/mode.yaml" ;;
  esac
  case "${1%-nometrics}" in
    memory) ;;
    none) printf 'cache: {enabled: false}\n' >>"$work/mode.yaml" ;;
    redis) printf 'cache: {memoryBytes: 0}\nredis: {url: "redis://127.0.0.1:%s"}\n' "$redis_port" >>"$work/mode.yaml" ;;
  esac
  RUST_LOG=warn "${2:-target/release/registry-api}" serve --config "$work/mode.yaml" \
    --address "127.0.0.1:$port" 2>"$work/api.log" &
  server=$!
  for _ in $(seq 1 50); do curl -fs "$base/readiness" >/dev/null && break; sleep 0.2; done
  curl -fs "$base/readiness" >/dev/null || { cat "$work/api.log" >&2; exit 1; }
}

# run URL CONNECTIONS: wrk's output after a 3 s warm-up; an answer other than 2xx ends the benchmark.
run() {
  local out
  wrk -t1 -c"$2" -d3s "$1" >/dev/null
  out=$(wrk -t1 -c"$2" -d"${duration}s" --latency "$1")
  if printf '%s\n' "$out" | grep -q "Non-2xx"; then
    echo "error: $1 answered other than 2xx: $out" >&2
    exit 1
  fi
  printf '%s\n' "$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

# bench SERVERS CONNECTIONS... REQUEST...: one catalogue size, every request and mode at each concurrency.
bench() {
  local servers=$1 connections=$2 modes=$3
  shift 3
  bench_setup registry_bench 18090
  trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null; [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null; [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT
  seed=$(target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers "$servers")
  value() { printf '%s\n' "$seed" | sed -n "s/^$1=//p"; }
  psql -q "$url" -c "vacuum analyze"
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  redis_pid=$!
  declare -A paths=(
    [first]="/v0.1/servers"
    [deep]="/v0.1/servers?cursor=$(value deep_cursor)"
    [search]="/v0.1/servers?search=weather"
    [version]="/v0.1/servers/$(value sample_name)/versions/$(value sample_version)"
    [health]="/health"
  )
  declare -A labels=([first]="first page" [deep]="deep page (row 15,000)" [search]="search=weather" [version]="one version GET" [health]="/health")
  api_mode none
  mkdir -p "$work/root"
  for request in "$@"; do
    curl -fs -H 'accept-encoding: identity' "$base${paths[$request]}" -o "$work/root/$request.json"
  done
  local nginx_port
  nginx_port=$(free_port)
  nginx_up "$work/root" "$nginx_port"
  echo
  echo "### $(value versions) versions in $(value servers) servers (loaded in $(value seconds) s), ${duration} s per run"
  echo
  echo "| request | connections | served by | p50 ms | p99 ms | requests/s | ÷ nginx |"
  echo "|---|---|---|---|---|---|---|"
  declare -A nginx_rps
  for c in $connections; do
    for request in "$@"; do
      local out
      out=$(run "http://127.0.0.1:$nginx_port/$request.json" "$c")
      nginx_rps[$request-$c]=$(rps "$out")
      wrk_row "${labels[$request]} | $c | nginx ($(stat -c %s "$work/root/$request.json") bytes)" "$out" "1"
    done
  done
  for mode in $modes; do
    api_mode "$mode"
    for c in $connections; do
      for request in "$@"; do
        local out
        out=$(run "$base${paths[$request]}" "$c")
        wrk_row "${labels[$request]} | $c | API, cache: $mode" "$out" "$(ratio "$(rps "$out")" "${nginx_rps[$request-$c]}")"
      done
    done
    echo "| API RSS after the runs above, cache: $mode | | | $(awk '/VmRSS/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$server"/status) now, $(awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$server"/status) peak | | | |"
  done
  kill "$server" "$nginx_pid" "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  server= nginx_pid= redis_pid=
  rm -rf "$work"
}

echo "# Read benchmark, $(date -u +%F), $(nproc) cores"
echo
limits_off
# metrics_cost: the first page of 20,000 versions, 8 connections, per mode the median of five rounds.
metrics_cost() {
  bench_setup registry_bench 18090
  trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
  target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers 5000 >/dev/null
  psql -q "$url" -c "vacuum analyze"
  local modes="memory memory-nometrics none none-nometrics"
  declare -A runs
  for _ in 1 2 3 4 5; do
    for mode in $modes; do
      api_mode "$mode"
      runs[$mode]+="$(rps "$(run "$base/v0.1/servers" 8)") "
    done
  done
  echo
  echo "### Metrics on and off: first page, 20,000 versions, 8 connections, ${duration} s per run, 5 rounds"
  echo
  echo "| cache | metrics | requests/s per round | median | off ÷ on |"
  echo "|---|---|---|---|---|"
  for cache in memory none; do
    local on off
    on=$(median "${runs[$cache]}")
    off=$(median "${runs[$cache-nometrics]}")
    echo "| $cache | on | ${runs[$cache]% } | $on | |"
    echo "| $cache | off | ${runs[$cache-nometrics]% } | $off | $(ratio "$off" "$on") |"
  done
}

# fixed_cost BINARY...: per server, the median of three rounds of each request that shows the fixed cost.
fixed_cost() {
  bench_setup registry_bench 18090
  trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null; [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"' EXIT
  target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers 5000 >/dev/null
  psql -q "$url" -c "vacuum analyze"
  api_mode none
  mkdir -p "$work/root"
  curl -fs -H 'accept-encoding: identity' "$base/v0.1/servers" -o "$work/root/first.json"
  curl -fs "$base/health" -o "$work/root/health.json"
  local nginx_port
  nginx_port=$(free_port)
  nginx_up "$work/root" "$nginx_port"
  declare -A runs
  local binaries=("$@") i
  for _ in 1 2 3; do
    runs[nginx-first]+="$(rps "$(run "http://127.0.0.1:$nginx_port/first.json" 8)") "
    runs[nginx-health]+="$(rps "$(run "http://127.0.0.1:$nginx_port/health.json" 8)") "
    for i in "${!binaries[@]}"; do
      api_mode memory "${binaries[$i]}"
      runs[$i-first]+="$(rps "$(run "$base/v0.1/servers" 8)") "
      runs[$i-health]+="$(rps "$(run "$base/health" 8)") "
      api_mode none "${binaries[$i]}"
      runs[$i-none]+="$(rps "$(run "$base/v0.1/servers" 8)") "
    done
  done
  local first health
  first=$(median "${runs[nginx-first]}")
  health=$(median "${runs[nginx-health]}")
  echo
  echo "### The fixed cost: 20,000 versions, 8 connections, ${duration} s per run, median of 3 rounds"
  echo
  echo "nginx: first page $first requests/s (${runs[nginx-first]% }), /health $health (${runs[nginx-health]% })."
  echo
  echo "| API binary | first page cached | ÷ nginx | /health | ÷ nginx | first page uncached | ÷ nginx |"
  echo "|---|---|---|---|---|---|---|"
  for i in "${!binaries[@]}"; do
    local cached health_rps none
    cached=$(median "${runs[$i-first]}")
    health_rps=$(median "${runs[$i-health]}")
    none=$(median "${runs[$i-none]}")
    echo "| ${binaries[$i]} | $cached | $(ratio "$cached" "$first") | $health_rps | $(ratio "$health_rps" "$health") | $none | $(ratio "$none" "$first") |"
  done
}

case "${2:-}" in
  metrics)
    metrics_cost
    exit 0
    ;;
  fixed)
    shift 2
    [ $# -gt 0 ] || set -- target/release/registry-api
    fixed_cost "$@"
    exit 0
    ;;
esac
bench 5000 "1 8" "memory none redis" first deep search version health
bench 25000 "8" "none memory" first deep search
