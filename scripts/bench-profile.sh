#!/usr/bin/env bash
# Where a read's time and allocations go: a perf profile with call graphs of registry-api (release build)
# serving the first page cached and uncached (`cache.enabled: false`: the store's path) and /health under
# wrk (8 connections), drawn as flame graphs, and the allocations per request counted by valgrind's DHAT.
# Prints a Markdown report (see docs/benchmarks.md).
#
#   scripts/bench-profile.sh [DURATION_SECONDS] [SVG_DIR] [API_BINARY]
#
# API_BINARY defaults to this tree's release build; a saved copy of an earlier build profiles that build.
# The flame graphs are written to SVG_DIR (default: a temporary folder, named in the report). Allocations
# per request are the difference of two DHAT runs, of 1,000 and 3,000 requests on one connection, over 2,000:
# start-up and shutdown cancel out. Needs PostgreSQL (TEST_DATABASE_URL's server), perf, valgrind and wrk
# (`apt-get install linux-perf valgrind wrk`); inferno, which draws the graphs, is installed pinned into a
# cache folder the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
svg_dir=${2:-}
api=${3:-target/release/registry-api}
source scripts/bench-lib.sh
for tool in perf valgrind wrk psql curl; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install linux-perf valgrind wrk" >&2; exit 1; }
done

inferno_root="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests/inferno-0.12.8"
if [ ! -x "$inferno_root/bin/inferno-flamegraph" ]; then
  echo "==> installing inferno 0.12.8 into $inferno_root (once)" >&2
  cargo install --quiet --locked inferno --version 0.12.8 --root "$inferno_root" >&2
fi
cargo build --release --quiet -p registry-server -p registry-admin -p registry-testkit --bin registry-api \
  --bin registry-admin --bin seed-catalogue

bench_setup registry_profile 18095
target/release/seed-catalogue --config "$work/bench.yaml" --registry bench --servers 5000 >/dev/null
psql -q "$url" -c "vacuum analyze"
svg_dir=${svg_dir:-$work/svg}
mkdir -p "$svg_dir"
declare -A paths=([first-page]="/v0.1/servers" [uncached-first-page]="/v0.1/servers" [health]="/health")
# The uncached first page reads the database at each request: the store's path.
cp "$work/bench.yaml" "$work/uncached.yaml"
printf 'cache: {enabled: false}\n' >>"$work/uncached.yaml"
declare -A configs=([first-page]="$work/bench.yaml" [uncached-first-page]="$work/uncached.yaml" [health]="$work/bench.yaml")

echo "# Profile of a read, $(date -u +%F), $(nproc) cores, commit $(git rev-parse --short HEAD)"
echo
limits_off
echo
echo "API binary: \`$api\`."
echo
echo "## Where the time goes (perf, ${duration} s under wrk -c8)"
for name in first-page uncached-first-page health; do
  start_api "$api" "${configs[$name]}"
  target="$base${paths[$name]}"
  wrk -t1 -c8 -d3s "$target" >/dev/null
  wrk -t1 -c8 -d"$((duration + 2))s" "$target" >"$work/wrk.out" &
  wrk_pid=$!
  sleep 1
  perf record -q -F 499 --call-graph dwarf,16384 -p "$server" -o "$work/$name.data" -- sleep "$duration" 2>/dev/null
  wait "$wrk_pid"
  perf script --no-inline -i "$work/$name.data" 2>/dev/null | "$inferno_root/bin/inferno-collapse-perf" >"$work/$name.folded"
  "$inferno_root/bin/inferno-flamegraph" --minwidth 1 --title "registry-api: $name under wrk -c8" \
    <"$work/$name.folded" >"$svg_dir/$name.svg"
  echo
  echo "### $name: $(rps "$(cat "$work/wrk.out")") requests/s while profiled; flame graph \`$svg_dir/$name.svg\`"
  echo
  echo "Where the samples are, by binary:"
  echo
  echo '```'
  perf report --no-inline -i "$work/$name.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -n 1,6p
  echo '```'
  echo
  echo "The top frames by own samples:"
  echo
  echo '```'
  perf report --no-inline -i "$work/$name.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | sed -n 1,25p | cut -c1-150
  echo '```'
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
done

# blocks N NAME: the blocks DHAT counted over a whole run of the API that served N requests for NAME's path on
# one keep-alive connection.
blocks() {
  local port config
  port=$(free_port)
  RUST_LOG=warn valgrind --tool=dhat --dhat-out-file=/dev/null "$api" serve \
    --config "${configs[$2]}" --address "127.0.0.1:$port" 2>"$work/dhat.log" &
  server=$!
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/readiness" >/dev/null && break; sleep 0.2; done
  config="$work/curl.conf"
  # One request first: the miss that fills the cache is not counted in the difference.
  for _ in $(seq 1 "$1"); do printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$port" "${paths[$2]}"; done >"$config"
  curl -fs -o /dev/null "http://127.0.0.1:$port${paths[$2]}"
  curl -fs -K "$config"
  kill -INT "$server"
  wait "$server" 2>/dev/null || true
  server=
  awk '/Total:/ { gsub(",", "", $(NF-1)); print $(NF-1) }' "$work/dhat.log"
}

echo
echo "## Allocations per request (DHAT)"
echo
echo "| request | blocks, 1,000 requests | blocks, 3,000 requests | allocations per request |"
echo "|---|---|---|---|"
for name in first-page uncached-first-page health; do
  small=$(blocks 1000 "$name")
  large=$(blocks 3000 "$name")
  echo "| $name | $small | $large | $(awk -v a="$small" -v b="$large" 'BEGIN { printf "%.1f", (b - a) / 2000 }') |"
done
