#!/bin/sh
# As the real image: a redis-server command line (the compose file's `command:`) runs with protected mode off,
# since containers on the compose network are its clients; anything else runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec runuser -u redis -- redis-server --protected-mode no "$@"
fi
exec "$@"
