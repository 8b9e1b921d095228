#!/usr/bin/env bash
# A local OpenID provider for oauth mode on one machine: npm oidc-provider, pinned by
# testkit/oidc-provider/package-lock.json and installed into a cache folder the first time. It runs on the node
# scripts/node.sh gives (Node 20 or later).
#   scripts/oidc-provider.sh install   installs it (npm must be present) and prints its folder
#   scripts/oidc-provider.sh [PORT]    runs it on 127.0.0.1:PORT (default 9090); RESOURCE sets the registry's
#                                      resourceUrl (default http://localhost:8080)
set -euo pipefail
cd "$(dirname "$0")/.."

kit=testkit/oidc-provider
cache="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["oidc-provider"])' "$kit/package.json")
dir="$cache/oidc-provider-$version"
if [ ! -f "$dir/node_modules/oidc-provider/package.json" ] || ! cmp -s "$kit/package-lock.json" "$dir/package-lock.json"; then
  echo "==> installing oidc-provider $version into $dir" >&2
  mkdir -p "$dir"
  cp "$kit/package.json" "$kit/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

node=$(scripts/node.sh)

if [ "${1:-}" = install ]; then
  echo "$dir"
  exit 0
fi
PORT="${1:-9090}" KEY_FILE="$PWD/testkit/fixtures/oidc-rsa-1.pem" OIDC_PROVIDER_DIR="$dir" \
  exec "$node" "$kit/provider.mjs"
