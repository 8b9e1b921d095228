#!/usr/bin/env bash
# Schemathesis against our own /openapi.json: every documented operation is called with generated valid and
# invalid input, and every answer must be documented (status, content type, headers, body schema) and never a
# 5xx. Runs the debug registry-api on a throwaway SQLite file, with a managed and a file registry that hold
# data. Schemathesis is installed (pinned) into a cache folder the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests/schemathesis-$version"
if [ ! -x "$venv/bin/st" ]; then
  echo "==> installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

work=$(mktemp -d)
# The API is waited for before its directory goes: it writes there while it shuts down.
trap 'kill "$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/config.yaml" <<YAML
registries:
  - name: internal
    managed: {}
  - name: files
    file: {path: $PWD/examples/data/upstream-catalogue.json}
    syncPolicy: {interval: 1h}
auth: {mode: anonymous}
# Schemathesis sends thousands of requests from one address: the rate limits would answer most with 429.
rateLimits: {enabled: false}
database: {path: $work/registry.db}
worker: {dataDir: $work}
YAML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/debug/registry-api" serve --config "$work/config.yaml" --address "127.0.0.1:$port" \
  2>"$work/api.log" &
api=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readiness" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/readiness" >/dev/null || { cat "$work/api.log"; exit 1; }
# Schemathesis keeps its caches in the working directory: the throwaway one.
(cd "$work" && "$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples 30 --workers 1 --warnings off)
