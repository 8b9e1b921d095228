#!/usr/bin/env bash
# The official MCP Python SDK (PyPI `mcp`), pinned, in a venv of its own under the tests' cache folder: the
# client no one here wrote that the MCP endpoint's tests drive. Installed once, then its python is printed:
#   export TEST_MCP_PYTHON="$(scripts/mcp-sdk.sh)"
set -euo pipefail

version=2.3.0
venv="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests/mcp-sdk-$version"

if ! "$venv/bin/python" -c "import mcp, sys; sys.exit(0)" 2>/dev/null; then
  echo "==> installing the MCP Python SDK (mcp $version) into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "mcp==$version" >&2
fi
echo "$venv/bin/python"
