#!/usr/bin/env bash
# Dependency hygiene: no unused dependency (cargo-machete), and the graph's licences, bans and sources
# (cargo-deny, deny.toml). Both are installed pinned into a cache folder the first time (about three minutes
# of compiling on 2 cores, reported apart); cargo-deny runs offline, on crates fetched beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests"

# install NAME VERSION: the tool's binary, installed into the cache the first time.
install() {
  local root="$cache/$1-$2"
  if [ ! -x "$root/bin/$1" ]; then
    local started=$SECONDS
    echo "==> installing $1 $2 into $root (once)" >&2
    cargo install --quiet --locked "$1" --version "$2" --root "$root" >&2
    echo "==> $1 installed in $((SECONDS - started)) s" >&2
  fi
  echo "$root/bin/$1"
}

machete=$(install cargo-machete 0.9.2)
deny=$(install cargo-deny 0.20.2)
"$machete"
# cargo-deny reads the graph of every target platform, whose crates a build for this one never downloaded.
cargo fetch --locked --quiet
"$deny" --offline check licenses bans sources
