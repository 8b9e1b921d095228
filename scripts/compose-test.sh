#!/usr/bin/env bash
# The deployment kit, run for real on a container engine (podman, driven by docker-compose as a user would
# drive Docker), with nothing pulled from a registry:
#   scripts/compose-test.sh BINDIR         the image from the binaries in BINDIR (registry-api, registry-worker,
#                                          registry-admin, built on Debian 12), as scripts/test.sh runs it
#   scripts/compose-test.sh --full-build   the image from the Dockerfile's own release build (15-30 min)
# Steps: the base image (debootstrap) and stand-ins for the compose file's postgres, redis, nginx and
# prometheus images (server/tests/deploy/containers), cached between runs; the project's image; its own
# checks (read-only, no capabilities, uid 10001, HEALTHCHECK); then docker-compose.yml with the monitoring
# profile, as docs/deploy.md starts it, with server/tests/deploy/containers/compose.override.yaml for the image
# names; the smoke checks; and `down -v`, after which nothing of the project may be left.
#
# It leaves the host as it found it: its own containers.conf, registries.conf and storage root (under
# ~/.cache/registry-tests/containers and a temporary run folder), never /etc/containers or anyone's store;
# the podman service and the health-check poller are ended by their PIDs, also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 1 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
mode=$1

say() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# Prints how long the step that started at $1 (a $SECONDS reading) took.
took() { say "$2: $((SECONDS - $1)) s"; }

packages=(podman buildah runc catatonit containernetworking-plugins golang-github-containernetworking-plugin-dnsname
  iptables debootstrap uidmap slirp4netns fuse-overlayfs docker-compose curl python3)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests/containers"
run=$(mktemp -d /tmp/registry-compose.XXXXXX)
mkdir -p "$cache" "$run/tmp" "$run/cni"
project="mcpreg-smoke-$$"
service_pid="" poller_pid="" created_secret="" created_signing_key="" compose_up=""

# --- the engine's own configuration ---------------------------------------------------------------------
# On hosts where the hard rlimits cannot be raised (no CAP_SYS_RESOURCE), containers get limits at or below
# them; on hosts with hybrid cgroups, runc (crun 1.8 refuses them); the cgroupfs manager where there is no
# systemd.
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
ulimits=("nofile=$(ulimit -Hn):$(ulimit -Hn)" "nproc=$nproc:$nproc")
cat >"$run/containers.conf" <<EOF
[containers]
default_ulimits = ["${ulimits[0]}", "${ulimits[1]}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run/events.log"
tmp_dir = "$run/tmp"
[network]
network_config_dir = "$run/cni"
EOF
# No short name is looked up anywhere, and the public registries are blocked: a missing image fails at once
# with its name instead of trying the network.
cat >"$run/registries.conf" <<EOF
unqualified-search-registries = []
EOF
for registry in docker.io registry-1.docker.io quay.io ghcr.io gcr.io registry.k8s.io public.ecr.aws; do
  printf '[[registry]]\nlocation = "%s"\nblocked = true\n' "$registry" >>"$run/registries.conf"
done
cat >"$run/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$run/runroot"
EOF
export CONTAINERS_CONF="$run/containers.conf" CONTAINERS_REGISTRIES_CONF="$run/registries.conf"
export CONTAINERS_STORAGE_CONF="$run/storage.conf" DOCKER_HOST="unix://$run/podman.sock"
export COMPOSE_PROJECT_NAME="$project"
# buildah keeps build scratch and `RUN --mount=type=cache` folders under TMPDIR (/var/tmp by default).
export TMPDIR="$cache/tmp"
mkdir -p "$TMPDIR"
# Builds take the same limits (they do not read default_ulimits), never pull, and keep HEALTHCHECK (docker
# format).
build=(podman build --pull=never --format docker --ulimit "${ulimits[0]}" --ulimit "${ulimits[1]}")
compose=(docker-compose -f docker-compose.yml -f server/tests/deploy/containers/compose.override.yaml
  --profile monitoring)

cleanup() {
  local status=$?
  set +e
  if [ -n "$compose_up" ]; then "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1; fi
  podman ps -aq --filter "label=io.mcpreg.test=$project" | xargs -r podman rm -f -v >/dev/null 2>&1
  [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null && wait "$poller_pid" 2>/dev/null
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
  [ -n "$created_secret" ] && rm -f secrets/db-password
  [ -n "$created_signing_key" ] && rm -f secrets/publisher-signing-key
  rmdir secrets 2>/dev/null
  # The images this run replaced (each run tags a new project image), in this script's own store only.
  podman image prune -f >/dev/null 2>&1
  rm -rf "$run"
  exit "$status"
}
trap cleanup EXIT

# Runs a command with its output in $run/$1.log, shown only when it fails.
logged() {
  local log="$run/$1.log"
  shift
  "$@" >"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "error: $* failed" >&2; exit 1; }
}

# Without systemd, podman says on every container start and stop that it cannot schedule health checks with
# it; the poller below runs them instead.
without_systemd_notes() { "$@" 2> >(grep -v 'unable to get systemd connection\|healthcheck: unable to get systemd' >&2); }

# Fails naming a service, with its last log lines.
fail_service() {
  echo "error: $2" >&2
  echo "--- the last log lines of $1:" >&2
  "${compose[@]}" logs --no-color --tail 40 "$1" >&2 || true
  exit 1
}

# --- images ---------------------------------------------------------------------------------------------
base=localhost/mcpreg-test/debian:bookworm
step=$SECONDS
if ! podman image exists "$base"; then
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  say "debootstrap bookworm (minbase) from $mirror"
  rootfs="$run/rootfs"
  as_root debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >"$run/debootstrap.log" 2>&1 \
    || { tail -n 20 "$run/debootstrap.log" >&2; exit 1; }
  # On hosts whose HTTPS goes through a local CA, builds inside need it too.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    TMPDIR=/tmp chroot "$rootfs" update-ca-certificates >"$run/ca.log" 2>&1 || { cat "$run/ca.log" >&2; exit 1; }
  fi
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
fi
# The names the project's Dockerfile builds from.
podman tag "$base" docker.io/library/debian:bookworm-slim localhost/debian:bookworm-slim
took "$step" "the base image"

step=$SECONDS
for standin in postgres redis nginx prometheus; do
  logged "standin-$standin" "${build[@]}" -t "localhost/mcpreg-test/$standin:standin" \
    "server/tests/deploy/containers/$standin"
done
took "$step" "the stand-in images (cached layers are reused)"

step=$SECONDS
image=localhost/mcp-registry:local
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$mode" = --full-build ]; then
  sysroot=$(rustc --print sysroot)
  logged rust "${build[@]}" -t localhost/rust:1.95-slim-bookworm \
    -f server/tests/deploy/containers/rust/Dockerfile "$sysroot"
  podman tag localhost/rust:1.95-slim-bookworm docker.io/library/rust:1.95-slim-bookworm
  say "building the image with the Dockerfile's own release build"
  "${build[@]}" --build-arg GIT_COMMIT="$commit" -t "$image" .
  took "$step" "the project's image, built in the container"
else
  context="$run/context"
  mkdir -p "$context/prebuilt"
  for binary in registry-api registry-worker registry-admin; do
    [ -x "$mode/$binary" ] || { echo "error: $mode/$binary is missing: build the workspace first" >&2; exit 1; }
    cp "$mode/$binary" "$context/prebuilt/"
  done
  logged image "${build[@]}" --target prebuilt --build-arg GIT_COMMIT="$commit" \
    -f "$PWD/Dockerfile" -t "$image" "$context"
  took "$step" "the project's image, from the binaries in $mode"
fi

# --- the engine's API, and health checks without systemd --------------------------------------------------
podman system service --time=0 "$DOCKER_HOST" >"$run/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 1 100); do [ -S "$run/podman.sock" ] && break; sleep 0.1; done
[ -S "$run/podman.sock" ] || { cat "$run/service.log" >&2; echo "error: the podman service did not start" >&2; exit 1; }
# podman schedules health checks with systemd timers; where there is no systemd, this loop runs them, each
# container's at its own interval as an engine would (every 2 s, the API's three failures in a row would
# mark it unhealthy in 6 s instead of the image's 30).
seconds_of() { # a Go duration as podman prints it (2s, 10s, 1m0s), in whole seconds; 2 when unset
  python3 -c 'import re, sys; units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}; t = sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", sys.argv[1])); print(max(1, int(t)) if t else 2)' "$1"
}
(declare -A due=() every=()
while :; do
  for container in $(podman ps -q); do
    [ "${due[$container]:-0}" -le $SECONDS ] || continue
    # A container's interval is fixed: read once.
    [ -n "${every[$container]:-}" ] || every[$container]=$(seconds_of \
      "$(podman inspect --format '{{.Config.Healthcheck.Interval}}' "$container" 2>/dev/null || true)")
    due[$container]=$((SECONDS + ${every[$container]}))
    podman healthcheck run "$container" >/dev/null 2>&1 || true
  done
  sleep 1
done) &
poller_pid=$!

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Runs "$2..." each second until it succeeds, for at most $1 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 1
  done
}

# --- the image on its own ---------------------------------------------------------------------------------
step=$SECONDS
for binary in registry-api registry-worker registry-admin; do
  printed=$(without_systemd_notes podman run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
    "$image" "$binary" --version)
  [[ $printed == "$binary "* ]] || { echo "error: $binary --version printed ${printed@Q}" >&2; exit 1; }
done
[ "$(podman image inspect --format '{{.Config.User}}' "$image")" = 10001:10001 ] \
  || { echo "error: the image does not run as 10001:10001" >&2; exit 1; }
port=$(free_port)
quick=$(without_systemd_notes podman run -d --read-only --cap-drop ALL --security-opt no-new-privileges --label "io.mcpreg.test=$project" \
  -v "$PWD/examples:/data/examples:ro" -p "127.0.0.1:$port:8080" "$image" \
  registry-api serve --config examples/quickstart.yaml)
healthy_alone() { podman healthcheck run "$quick" >/dev/null 2>&1; }
wait_for 60 healthy_alone || {
  podman logs --tail 40 "$quick" >&2
  echo "error: the image's HEALTHCHECK did not pass within 60 s" >&2
  exit 1
}
[ "$(podman top "$quick" huser | tail -n +2 | sort -u)" = 10001 ] || { echo "error: not running as uid 10001" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/v0.1/servers" >/dev/null
without_systemd_notes podman rm -f -v "$quick" >/dev/null
took "$step" "the image: --version of each binary, read-only with no capabilities as uid 10001, HEALTHCHECK"

# --- the stack, as docs/deploy.md starts it -------------------------------------------------------------
if [ ! -f secrets/db-password ]; then
  mkdir -p secrets
  python3 -c 'import secrets; print(secrets.token_hex(16))' >secrets/db-password
  created_secret=1
fi
if [ ! -f secrets/publisher-signing-key ]; then
  mkdir -p secrets
  python3 -c 'import secrets; print(secrets.token_hex(32))' >secrets/publisher-signing-key
  created_signing_key=1
fi
api_port=$(free_port) prometheus_port=$(free_port)
export REGISTRY_HTTP_PORT="127.0.0.1:$api_port" PROMETHEUS_PORT="127.0.0.1:$prometheus_port"
step=$SECONDS
compose_up=1
container() { podman ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$1"; }
state() { podman inspect --format "$2" "$(container "$1")"; }
if ! "${compose[@]}" up -d --no-build >"$run/up.log" 2>&1; then
  cat "$run/up.log" >&2
  for service in $("${compose[@]}" config --services); do
    [ -n "$(container "$service")" ] || continue
    code=$(state "$service" '{{.State.Status}} {{.State.ExitCode}}')
    [ "$code" = "exited 0" ] || [ "${code%% *}" != exited ] || fail_service "$service" "$service exited: $code"
    if [ "$(state "$service" '{{.State.Health.Status}}')" = unhealthy ]; then
      echo "--- the health checks of $service:" >&2
      state "$service" '{{range .State.Health.Log}}{{.Start}} exit {{.ExitCode}}: {{.Output}}{{"\n"}}{{end}}' >&2 || true
      fail_service "$service" "$service is unhealthy"
    fi
  done
  exit 1
fi
healthy() { [ "$(state "$1" '{{.State.Health.Status}}')" = healthy ]; }
for service in postgres redis api-a api-b worker; do
  wait_for 120 healthy "$service" || fail_service "$service" "$service is not healthy within 120 s"
done
nginx_up() { curl -fsS -o /dev/null "http://127.0.0.1:$api_port/health"; }
wait_for 60 nginx_up || fail_service nginx "nginx does not answer on 127.0.0.1:$api_port within 60 s"
[ "$(state migrate '{{.State.ExitCode}} {{.State.Status}}')" = "0 exited" ] || fail_service migrate "migrate did not exit 0"
migrated=$(state migrate '{{.State.FinishedAt.Unix}}')
for service in api-a api-b worker; do
  [ "$(state "$service" '{{.State.StartedAt.Unix}}')" -ge "$migrated" ] \
    || fail_service "$service" "$service started before migrate finished"
done
took "$step" "up, to every service healthy"

step=$SECONDS
python3 server/tests/deploy/containers/smoke.py "http://127.0.0.1:$api_port" examples/publish/ticket-desk.json \
  "http://127.0.0.1:$prometheus_port" || fail_service worker "a smoke check failed"
for service in api-a api-b; do
  # Into a file first: grep -q stops reading at the first match, and compose would die of SIGPIPE.
  "${compose[@]}" logs --no-color "$service" >"$run/$service.log" 2>&1
  grep -q 'request served' "$run/$service.log" || fail_service "$service" "$service answered no request through nginx"
done
took "$step" "the smoke checks: publish and read back through nginx, both replicas answered, syncs, Prometheus"

step=$SECONDS
"${compose[@]}" down -v --remove-orphans >"$run/down.log" 2>&1 || { cat "$run/down.log" >&2; exit 1; }
compose_up=""
left=$( (podman ps -aq --filter "label=com.docker.compose.project=$project"
  podman volume ls -q --filter "label=com.docker.compose.project=$project"
  podman network ls -q --filter "label=com.docker.compose.project=$project") | wc -l)
[ "$left" -eq 0 ] || { echo "error: down -v left $left containers, volumes or networks of $project" >&2; exit 1; }
took "$step" "down -v, leaving no container, volume or network"
