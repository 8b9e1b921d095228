#!/usr/bin/env bash
# The project's whole check: services up, formatting, lints, then every test against real PostgreSQL and Redis.
# Works on a fresh Debian machine: it starts PostgreSQL and Redis if installed but stopped, and installs them
# with apt-get if absent.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
: "${TEST_REDIS_URL:=redis://127.0.0.1:6379}"
export TEST_DATABASE_URL TEST_REDIS_URL

# Each step says how far into the run it starts, so a slow run shows where its time went.
say() { printf '==> [%ss] %s\n' "$SECONDS" "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  say "installing $* with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 30); do "$check" && return 0; sleep 1; done
  echo "error: $what did not come up within 30 s" >&2
  exit 1
}

ensure_postgres() {
  if postgres_up; then say "PostgreSQL is running"; return; fi
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-contrib
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL postgres_up
  # A fresh install only trusts peer logins on the socket; the tests connect over TCP as postgres.
  if ! psql "$TEST_DATABASE_URL" -Atc 'select 1' >/dev/null 2>&1; then
    say "allowing trusted TCP logins from 127.0.0.1 for the tests"
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
}

ensure_redis() {
  if redis_up; then say "Redis is running"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_up
}

# git2 builds libgit2 with OpenSSL; the git tests drive the git command line.
ensure_build_tools() {
  local missing=()
  pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev pkg-config)
  command -v git >/dev/null || missing+=(git)
  command -v cc >/dev/null || missing+=(build-essential)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else say "build tools are present"; fi
}

# The page tests drive headless Chromium (the web catalogue's through chromedriver); the fault suite runs PostgreSQL's initdb and pg_ctl (installed with
# the server), prlimit (util-linux), python3, redis-server and, for scripts/cluster.sh, nginx; schemathesis
# needs python3's venv, and curl waits for the API; the end-to-end auth test runs a real OpenID provider on
# Node, installed with npm; the metrics tests check the exposition with promtool and run Debian's prometheus;
# the deployment tests run docker-compose (Debian's) and the tools scripts/deploy-tools.sh installs; the
# prober's tests probe the MCP reference server on Node (npm) and the Python SDK's server.
ensure_test_tools() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # chromium-driver needs the very same chromium version: apt-get installs or upgrades the two together.
  [ -x /usr/bin/chromedriver ] || missing+=(chromium chromium-driver)
  command -v prlimit >/dev/null || missing+=(util-linux)
  command -v curl >/dev/null || missing+=(curl)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3 python3-venv)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else say "test tools are present"; fi
  say "the OpenID provider of the end-to-end auth test: $(scripts/oidc-provider.sh install)"
  say "the MCP reference server the prober's tests probe: $(scripts/mcp-everything.sh install)"
  eval "$(scripts/deploy-tools.sh)"
  say "the deployment tools: $HELM, $HADOLINT, $KUBERNETES_VALIDATE"
}

ensure_build_tools
ensure_postgres
ensure_redis
ensure_test_tools

say "cargo fmt --check"
cargo fmt --all --check
# OTLP export is a cargo feature of registry-runtime, the one crate whose code it changes: the workspace is
# linted and tested with it (a superset: the export is off unless configured), and registry-runtime is also
# linted without it. Its configuration refuses `tracing.otlp` in a build without the export; that refusal is
# tested in every build, so no second test build is needed (it cost 72 s of a cold run).
otlp=(--features registry-server/otlp)
say "cargo clippy, with the otlp feature, and registry-runtime without it"
cargo clippy --workspace --all-targets --locked "${otlp[@]}" -- -D warnings
cargo clippy -p registry-runtime --all-targets --locked -- -D warnings
say "no module circle inside any crate"
python3 scripts/module-circles.py --self-test
python3 scripts/module-circles.py
say "dependency hygiene: scripts/dependencies.sh"
scripts/dependencies.sh
say "the api library does not depend on the worker (so its tests never build libgit2)"
if cargo tree --locked -p registry-api -e normal,dev --prefix none | grep -Eq '^(registry-worker|git2) '; then
  echo "error: registry-api depends on registry-worker or git2; wire the binary in server/ instead" >&2
  exit 1
fi
say "the official server.json schema, from PyPI's mcp-registry-sdk"
TEST_SERVER_SCHEMA=$(scripts/official-schema.sh)
export TEST_SERVER_SCHEMA
say "the official MCP Python SDK, a client of /mcp"
TEST_MCP_PYTHON=$(scripts/mcp-sdk.sh)
export TEST_MCP_PYTHON
# Every test database of this run is named registry_test_<run>_…: a test drops its own, also when it fails,
# and whatever a killed test process left behind is dropped when this script ends, however it ends.
REGISTRY_TEST_RUN=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
export REGISTRY_TEST_RUN
left_databases() {
  psql "$TEST_DATABASE_URL" -Atc \
    "select datname from pg_database where datname like 'registry\_test\_${REGISTRY_TEST_RUN}\_%'"
}
drop_left_databases() {
  local name
  for name in $(left_databases); do psql "$TEST_DATABASE_URL" -qc "drop database if exists $name with (force)"; done
}
trap drop_left_databases EXIT
say "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "${otlp[@]}"
  # The ignored tests are the optional comparisons with the reference data: each says what it compared
  # against, or that it skipped and why.
  say "the optional comparisons with the reference data (TEST_REFERENCE_DIR)"
  cargo nextest run --workspace --locked --no-fail-fast "${otlp[@]}" --run-ignored only --no-capture
else
  cargo test --workspace --locked --no-fail-fast "${otlp[@]}"
  cargo test --workspace --locked --no-fail-fast "${otlp[@]}" -- --ignored --nocapture
fi
left=$(left_databases)
if [ -n "$left" ]; then
  echo "error: tests that passed left their databases behind:" $left >&2
  exit 1
fi
say "no test database left behind"
say "schemathesis against our own OpenAPI document"
scripts/schemathesis.sh
# The binaries the tests ran (nextest built them for the integration tests), in the image, and the compose
# stack started for real.
say "the deployment kit on a real container engine: scripts/compose-test.sh"
scripts/compose-test.sh "${CARGO_TARGET_DIR:-target}/debug"
