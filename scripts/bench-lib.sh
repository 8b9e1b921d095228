# Sourced by the benchmark scripts: a fresh database and API to measure, and wrk output as Markdown rows.

# bench_setup DATABASE PORT: drops and creates DATABASE on TEST_DATABASE_URL's server, writes $work/bench.yaml
# (one managed registry, `bench`) and migrates it. Sets url, base and work; the API started by start_api and
# $work go when the script exits.
bench_setup() {
  local admin_url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
  url="${admin_url%/*}/$1"
  port=$2
  base="http://127.0.0.1:$port"
  psql -q "$admin_url" -c "drop database if exists $1 with (force)" -c "create database $1"
  work=$(mktemp -d)
  trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
  cat > "$work/bench.yaml" <<YAML
registries:
  - name: bench
    managed: {}
auth:
  mode: anonymous
# wrk sends from one address: the benchmarks measure with the rate limits off.
rateLimits:
  enabled: false
database:
  url: $url
  maxOpenConns: 16
YAML
  target/release/registry-admin migrate --config "$work/bench.yaml" >/dev/null
}

# start_api [BINARY] [CONFIG]: the API (default this tree's release build) on $port over CONFIG (default
# $work/bench.yaml), once it answers /readiness.
start_api() {
  RUST_LOG=warn "${1:-target/release/registry-api}" serve --config "${2:-$work/bench.yaml}" --address "127.0.0.1:$port" \
    2>"$work/api.log" &
  server=$!
  for _ in $(seq 1 50); do curl -fs "$base/readiness" >/dev/null && break; sleep 0.2; done
}

# wrk prints latencies with units (us, ms, s); this gives milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# limits_off: the line each report carries, saying how it ran.
limits_off() { echo "Rate limits off (\`rateLimits.enabled: false\`): wrk sends from one address."; }

# rps OUTPUT: wrk's requests per second, whole.
rps() { printf '%s\n' "$1" | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }

# wrk_row LABEL OUTPUT [EXTRA]: `| label | p50 | p99 | requests/s | extra |`.
wrk_row() {
  local p50 p99 rps
  p50=$(to_ms "$(printf '%s\n' "$2" | awk '$1 == "50%" { print $2 }')")
  p99=$(to_ms "$(printf '%s\n' "$2" | awk '$1 == "99%" { print $2 }')")
  rps=$(rps "$2")
  if [ $# -ge 3 ]; then
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$p50" "$p99" "$rps" "$3"
  else
    printf '| %s | %s | %s | %s |\n' "$1" "$p50" "$p99" "$rps"
  fi
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# median "N N N...": the middle value (the lower one of an even count).
median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
