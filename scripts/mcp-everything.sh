#!/usr/bin/env bash
# The MCP reference server (npm @modelcontextprotocol/server-everything), pinned by
# testkit/mcp-everything/package-lock.json and installed into the tests' cache folder the first time: a real
# server no one here wrote, which the prober's tests probe. It speaks protocol versions up to 2025-11-25.
#   scripts/mcp-everything.sh install              installs it (npm must be present) and prints its folder
#   scripts/mcp-everything.sh TRANSPORT PORT       runs it on 127.0.0.1:PORT; TRANSPORT is streamableHttp
#                                                  (POST /mcp, sessions) or sse (legacy: GET /sse)
# It would listen on every interface; testkit/mcp-everything/loopback.cjs makes it listen on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

kit=testkit/mcp-everything
cache="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["@modelcontextprotocol/server-everything"])' "$kit/package.json")
dir="$cache/mcp-everything-$version"
if [ ! -f "$dir/node_modules/@modelcontextprotocol/server-everything/package.json" ] || ! cmp -s "$kit/package-lock.json" "$dir/package-lock.json"; then
  echo "==> installing @modelcontextprotocol/server-everything $version into $dir" >&2
  mkdir -p "$dir"
  cp "$kit/package.json" "$kit/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
node=$(scripts/node.sh)

if [ "${1:-}" = install ]; then
  echo "$dir"
  exit 0
fi
PORT="${2:?usage: scripts/mcp-everything.sh streamableHttp|sse PORT}" \
  exec "$node" --require "$PWD/$kit/loopback.cjs" "$dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js" "${1:?}"
