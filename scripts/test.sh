#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs the whole suite:
# lint (ruff), types (mypy --strict), the pure-core import contract (import-linter), and pytest
# (unit, real-registry, real-HTTPS webhook, helm chart, the kube-apiserver end-to-end lane, and the
# one-node cluster lane: the image built with buildah, the chart installed on a real node).
# Idempotent; re-running skips what is already installed. Needs root for apt-get (or the packages present).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SIGWEBHOOK_VENV:-$ROOT/.venv}
CACHE=${SIGWEBHOOK_CACHE:-$HOME/.cache/sigwebhook-tools}
mkdir -p "$CACHE"

step() { printf '\n=== %s\n' "$*"; }

step "system packages (docker-registry, skopeo, openssl, htpasswd, etcd; the cluster lane: containerd,
runc, CNI plugins, conntrack, buildah, mmdebstrap, gcc)"
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v openssl >/dev/null || need+=(openssl)
command -v unzip >/dev/null || need+=(unzip)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v etcd >/dev/null || need+=(etcd-server)
cluster=()  # scripts/cluster.sh and scripts/build-image.sh (they would install these themselves too)
command -v containerd >/dev/null || cluster+=(containerd)
command -v runc >/dev/null || cluster+=(runc)
[[ -x /usr/lib/cni/bridge ]] || cluster+=(containernetworking-plugins)
command -v conntrack >/dev/null || cluster+=(conntrack)
command -v iptables >/dev/null || cluster+=(iptables)
command -v buildah >/dev/null || cluster+=(buildah)
command -v mmdebstrap >/dev/null || cluster+=(mmdebstrap)
command -v gcc >/dev/null || cluster+=(gcc libc6-dev)
command -v curl >/dev/null || cluster+=(curl)
if ((${#need[@]} + ${#cluster[@]})); then
  apt-get update -qq
  ((${#need[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  ((${#cluster[@]} == 0)) ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${cluster[@]}" >/dev/null
fi

step "python environment ($VENV)"
[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null
"$VENV/bin/pip" install -q -e ".[test]" -c constraints/runtime.txt  # the runtime versions the image ships
export PATH=$VENV/bin:$PATH

step "helm (real binary)"
HELM=$(bash scripts/install-helm.sh)
export SIGWEBHOOK_HELM=$HELM
"$HELM" version --short

step "kube-apiserver + etcd for the end-to-end lane (cached build, reflect2 1.0.2: see the script)"
export KUBE_APISERVER_CACHE=${KUBE_APISERVER_CACHE:-$HOME/.cache/kube-apiserver-1.20-r2}
KUBE_APISERVER=$(bash scripts/build-kube-apiserver.sh | tail -n 1)
export SIGWEBHOOK_KUBE_APISERVER=$KUBE_APISERVER
"$KUBE_APISERVER" --version

step "kubelet, kube-controller-manager, kube-scheduler, kube-proxy, kubectl for the cluster lane (cached)"
bash scripts/build-kube-node.sh | tail -n 1

step "ruff"
ruff check app tests bench scripts
ruff format --check app tests bench scripts

step "mypy --strict app"
mypy app

step "import-linter (pure core)"
lint-imports

step "pytest"
python -m pytest -q "$@"
