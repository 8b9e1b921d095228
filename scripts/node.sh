#!/usr/bin/env bash
# Prints a node of version 20 or later: the one on PATH when it is, else a pinned Node 22 from npm's
# node-linux-* package, installed into the tests' cache folder the first time (Debian 12 ships Node 18).
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests"

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
node_bin
