#!/usr/bin/env bash
# A local OpenID provider for oauth mode on one machine: npm oidc-provider, pinned by
# testkit/oidc-provider/package-lock.json and installed into a cache folder the first time. It needs Node 20 or
# later; with an older `node` (Debian 12 ships 18), Node 22 is installed from npm's node-linux-* package.
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

# The node to run it with: the one on PATH when it is 20 or later, else a pinned Node 22 from npm.
node_bin() {
  if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
    command -v node
    return
  fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "error: no Node 20+ here, and no node-linux package for $(uname -m)" >&2; exit 1 ;;
  esac
  local pinned="node-linux-$arch@22.23.5" home="$cache/node-22.23.5-$arch"
  if [ ! -x "$home/node_modules/node-linux-$arch/bin/node" ]; then
    echo "==> installing $pinned into $home" >&2
    mkdir -p "$home"
    (cd "$home" && npm install --no-audit --no-fund --no-save --loglevel=error "$pinned" >&2)
  fi
  echo "$home/node_modules/node-linux-$arch/bin/node"
}
node=$(node_bin)

if [ "${1:-}" = install ]; then
  echo "$dir"
  exit 0
fi
PORT="${1:-9090}" KEY_FILE="$PWD/testkit/fixtures/oidc-rsa-1.pem" OIDC_PROVIDER_DIR="$dir" \
  exec "$node" "$kit/provider.mjs"
