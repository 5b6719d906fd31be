#!/usr/bin/env bash
# Builds the node and control-plane binaries of the one-node cluster (scripts/cluster.sh) from the same
# Kubernetes v1.20.2 source, Go and Go cache that scripts/build-kube-apiserver.sh prepared: kubelet,
# kube-controller-manager, kube-scheduler, kube-proxy and kubectl (a client of the same version as the
# API server). `-tags providerless` leaves the cloud providers out (smaller, faster to build), the version
# is stamped as the API server's. Each binary is cached under $KUBE_APISERVER_CACHE/bin and reused;
# a build goes to a temporary name first, so an interrupted build never leaves a binary that is reused.
# Runs scripts/build-kube-apiserver.sh first (a no-op when its build is cached). Prints the binaries'
# directory last. Builds run under `nice`: about 5 minutes on two cores with the API server's Go cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${KUBE_APISERVER_CACHE:-$HOME/.cache/kube-apiserver-1.20-r2}
export KUBE_APISERVER_CACHE=$T
BINDIR=$T/bin
NAMES=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)

version() { if [[ $1 == *kubectl* ]]; then "$1" version --client; else "$1" --version; fi; }
runs() { [[ -x $BINDIR/$1 && -f $BINDIR/$1.built ]] && version "$BINDIR/$1" >/dev/null 2>&1; }
missing=()
for name in "${NAMES[@]}"; do runs "$name" || missing+=("$name"); done
if ((${#missing[@]} == 0)); then echo "$BINDIR"; exit 0; fi

bash scripts/build-kube-apiserver.sh >/dev/null
SRC=$T/gopath/src/k8s.io/kubernetes
if [[ ! -d $SRC/cmd/kubelet || ! -f $SRC/pkg/generated/openapi/zz_generated.openapi.go ]]; then
  echo "build-kube-node: the prepared source is missing under $T (its API server binary was built" >&2
  echo "elsewhere?); remove $T/bin/kube-apiserver and run scripts/build-kube-apiserver.sh again" >&2
  exit 1
fi
if [[ -x $T/go-venv/bin/go ]]; then GOBIN_DIR=$T/go-venv/bin
else GOBIN_DIR=${KUBE_APISERVER_SHARED_CACHE:-$HOME/.cache/kube-apiserver-1.20}/go-venv/bin; fi
export PATH=$GOBIN_DIR:$PATH
# the API server's build settings (GOPATH mode, no network, no cgo), so its Go cache is reused
export GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOTELEMETRY=off GOFLAGS=
export GOCACHE=$T/gocache GOPATH=$T/gopath
cd "$SRC"
P=k8s.io/kubernetes/vendor/k8s.io; V=""
for pkg in component-base/version client-go/pkg/version; do
  V="$V -X $P/$pkg.gitVersion=v1.20.2 -X $P/$pkg.gitMajor=1 -X $P/$pkg.gitMinor=20 -X $P/$pkg.gitTreeState=clean"
done
for name in "${missing[@]}"; do
  started=$(date +%s)
  nice -n 10 go build -tags providerless -p 2 -ldflags "-s -w $V" -o "$BINDIR/$name.tmp" "./cmd/$name"
  version "$BINDIR/$name.tmp" >/dev/null
  mv "$BINDIR/$name.tmp" "$BINDIR/$name"
  touch "$BINDIR/$name.built"
  echo "build-kube-node: $name built in $(($(date +%s) - started)) s" >&2
done
echo "$BINDIR"
