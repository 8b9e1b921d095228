# Sourced by the benchmark scripts: turns wrk --latency output into a Markdown table row.

# wrk prints latencies with units (us, ms, s); this gives milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# wrk_row LABEL OUTPUT [EXTRA]: `| label | p50 | p99 | requests/s | extra |`.
wrk_row() {
  local p50 p99 rps
  p50=$(to_ms "$(printf '%s\n' "$2" | awk '$1 == "50%" { print $2 }')")
  p99=$(to_ms "$(printf '%s\n' "$2" | awk '$1 == "99%" { print $2 }')")
  rps=$(printf '%s\n' "$2" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
  if [ $# -ge 3 ]; then
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$p50" "$p99" "$rps" "$3"
  else
    printf '| %s | %s | %s | %s |\n' "$1" "$p50" "$p99" "$rps"
  fi
}
