#!/usr/bin/env bash
# Runs the read and publish benchmarks on an earlier commit and on this checkout, one after the other on the
# same machine, so a refactoring's cost shows beside the run-to-run noise:
#
#   scripts/bench-compare.sh REV [DURATION_SECONDS] [ROUNDS]
#
# REV is checked out in a temporary worktree and built there in release mode. Each round runs
# scripts/bench.sh and scripts/bench-publish.sh on REV, then on this checkout; the reports go to
# target/bench-compare/{REV,HEAD}-{read,publish}-ROUND.md. Needs what those two scripts need.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
rev=$1 duration=${2:-10} rounds=${3:-2}
out=target/bench-compare
mkdir -p "$out"
tree=$(mktemp -d /tmp/registry-bench-XXXXXX)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -rf "$tree"' EXIT
git worktree add --detach "$tree" "$rev" >/dev/null
label=$(git rev-parse --short=12 "$rev")

for round in $(seq 1 "$rounds"); do
  for side in "$label" HEAD; do
    dir=$PWD
    [ "$side" = HEAD ] || dir=$tree
    echo "==> round $round, $side: read" >&2
    (cd "$dir" && scripts/bench.sh "$duration") >"$out/$side-read-$round.md"
    echo "==> round $round, $side: publish" >&2
    (cd "$dir" && scripts/bench-publish.sh "$duration") >"$out/$side-publish-$round.md"
  done
done
ls "$out"
