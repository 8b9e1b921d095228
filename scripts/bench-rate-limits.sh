#!/usr/bin/env bash
# The rate limiter's cost and its memory, in one run: a synthetic catalogue in PostgreSQL (5,000 servers,
# about 20,000 versions), a release registry-api on 127.0.0.1 with its page cache in memory, and wrk on
# loopback. Prints Markdown tables (see docs/benchmarks.md).
#   - Cost: the cached first page, 8 connections, with the limits off, on and counted on the replica (no
#     Redis), and on and counted in Redis (a private redis-server); rounds alternate the three, one process
#     per run, and each mode's median is reported. wrk is one client: its `reads` budget is raised (60,000 a
#     minute, a burst of 1,000,000,000), so every request is decided and none refused.
#   - Flood: a million distinct client addresses, one request each, through `X-Forwarded-For` from a trusted
#     proxy (127.0.0.1) to one replica counting on its own, with the shipped budgets. The addresses are
#     127.x.y.z, header values only: every packet goes to 127.0.0.1. Reported: the peak RSS, and the RSS and
#     the clients remembered once the window has passed and the limiter has pruned (every 30 s).
#
#   scripts/bench-rate-limits.sh [DURATION_SECONDS] [ROUNDS] [cost|flood]     # both parts by default
#
# Needs PostgreSQL (TEST_DATABASE_URL's server), redis-server and wrk (`apt-get install redis-server wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
rounds=${2:-3}
part=${3:-all}
connections=8
flood=1000000
source scripts/bench-lib.sh
for tool in redis-server wrk psql curl python3; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: apt-get install redis-server wrk postgresql-client curl python3" >&2
    exit 1
  }
done

cargo build --release --quiet -p registry-server -p registry-admin -p registry-testkit --bin registry-api \
  --bin registry-admin --bin seed-catalogue

bench_setup registry_bench_limits 18098
trap 'kill ${server:-} ${redis_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
seed=$(target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers 5000)
versions=$(printf '%s\n' "$seed" | sed -n 's/^versions=//p')
psql -q "$url" -c "vacuum analyze"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
internal_port=$(free_port)
# bench.yaml turns the limits off; each mode's file says what it measures instead.
grep -v '^rateLimits:\|^  enabled: false$\|^# wrk sends' "$work/bench.yaml" >"$work/base.yaml"

# limits_mode MODE: restarts the API with MODE's config: off, local (raised budget, no Redis), redis (the
# same budget, counted in the private Redis) or flood (the shipped budgets, addresses from X-Forwarded-For).
limits_mode() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
  cp "$work/base.yaml" "$work/mode.yaml"
  local trusted=
  [ "$1" = flood ] && trusted=', trustedProxies: [127.0.0.1]'
  printf 'server: {internalAddress: "127.0.0.1:%s"%s}\n' "$internal_port" "$trusted" >>"$work/mode.yaml"
  local raised='rateLimits: {reads: {perMinute: 60000, burst: 1000000000}}'
  case "$1" in
    off) printf 'rateLimits: {enabled: false}\n' ;;
    local) printf '%s\n' "$raised" ;;
    redis) printf '%s\nredis: {url: "redis://127.0.0.1:%s"}\n' "$raised" "$redis_port" ;;
    flood) ;;
  esac >>"$work/mode.yaml"
  RUST_LOG=warn target/release/registry-api serve --config "$work/mode.yaml" --address "127.0.0.1:$port" \
    2>"$work/api.log" &
  server=$!
  for _ in $(seq 1 50); do curl -fs "$base/readiness" >/dev/null && break; sleep 0.2; done
  curl -fs "$base/readiness" >/dev/null || { cat "$work/api.log" >&2; exit 1; }
}

measure() { # URL [WRK-ARGS...]
  local url=$1 out
  shift
  wrk -t1 -c"$connections" -d2s "$@" "$url" >/dev/null
  out=$(wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$url")
  if printf '%s\n' "$out" | grep -q "Non-2xx"; then echo "error: $url answered other than 2xx: $out" >&2; exit 1; fi
  printf '%s\n' "$out"
}
p99() { to_ms "$(printf '%s\n' "$1" | awk '$1 == "99%" { print $2 }')"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
rss_mib() { awk -v field="$1:" '$1 == field { printf "%.0f", $2 / 1024 }' "/proc/$server/status"; }

# cost: the cached first page with the limits off, on locally and on in Redis, alternating rounds.
cost() {
  declare -A runs latencies
  for _ in $(seq 1 "$rounds"); do
    for mode in off local redis; do
      limits_mode "$mode"
      out=$(measure "$base/v0.1/servers")
      runs[$mode]+="$(rps "$out") "
      latencies[$mode]+="$(p99 "$out") "
      # Each mode decided where it says.
      local backend
      backend=$(curl -fs "http://127.0.0.1:$internal_port/metrics" | awk '$2 == 1 && /^rate_limit_backend/ { print }')
      case $mode in
        off) [ -z "$backend" ] ;;
        local) [[ $backend == *'"local"'* ]] ;;
        redis) [[ $backend == *'"redis"'* ]] ;;
      esac || { echo "error: the $mode mode decided elsewhere: ${backend:-no limiter}" >&2; exit 1; }
    done
  done

  echo
  echo "### The limiter's cost: the cached first page, $versions versions, $connections connections, ${duration} s per run, $rounds rounds"
  echo
  echo "| rate limits | requests/s per round | median | p99 ms per round | ÷ off |"
  echo "|---|---|---|---|---|"
  off=$(median "${runs[off]}")
  for mode in off local redis; do
    case $mode in
      off) label="off" ;;
      local) label="on, counted on the replica" ;;
      redis) label="on, counted in Redis" ;;
    esac
    echo "| $label | ${runs[$mode]% } | $(median "${runs[$mode]}") | ${latencies[$mode]% } | $(ratio "$(median "${runs[$mode]}")" "$off") |"
  done
}

# flood: a million client addresses, one request each, and the memory they leave.
flood() {
  # The flood: each request names another address, 127.0.0.1 + n, until a million were sent.
  cat >"$work/flood.lua" <<LUA
  local n = 0
  request = function()
    n = n + 1
    local a = n + 1
    local address = string.format("127.%d.%d.%d", math.floor(a / 65536) % 256, math.floor(a / 256) % 256, a % 256)
    return wrk.format("GET", "/v0.1/servers?limit=1", { ["X-Forwarded-For"] = address })
  end
  response = function(status)
    if n >= $flood then wrk.thread:stop() end
  end
LUA
  limits_mode flood
  curl -fs "$base/v0.1/servers?limit=1" >/dev/null
  before=$(rss_mib VmRSS)
  started=$(date +%s.%N)
  out=$(wrk -t1 -c"$connections" -d1800s -s "$work/flood.lua" "$base")
  elapsed=$(python3 -c "import time; print(round(time.time() - $started, 1))")
  sent=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
  refused=$(printf '%s\n' "$out" | awk '/Non-2xx/ { print $5 }')
  peak=$(rss_mib VmHWM)
  at_end=$(rss_mib VmRSS)
  # The shipped reads budget refills one request in 100 ms, and the limiter prunes every 30 s: the first prune
  # after the flood forgets every address.
  remembered() { curl -fs "http://127.0.0.1:$internal_port/metrics" | awk '$1 == "rate_limit_local_clients" { print $2 }'; }
  for _ in $(seq 1 700); do
    [ "$(remembered)" = 0 ] && break
    sleep 0.1
  done
  after=$(rss_mib VmRSS)

  echo
  echo "### A flood: $flood client addresses, one request each, shipped budgets, counted on the replica"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| requests sent | $sent in $elapsed s (${refused:-0} refused) |"
  echo "| RSS before | $before MiB |"
  echo "| RSS at the flood's end | $at_end MiB |"
  echo "| peak RSS | $peak MiB |"
  echo "| clients remembered after the window and a prune | $(remembered) |"
  echo "| RSS after the window and a prune | $after MiB |"
}

case $part in
  all) cost; flood ;;
  cost) cost ;;
  flood) flood ;;
  *) echo "usage: $0 [DURATION_SECONDS] [ROUNDS] [cost|flood]" >&2; exit 2 ;;
esac
