#!/usr/bin/env bash
# Builds the sigwebhook image from the project's Dockerfile without a Docker engine, with buildah
# (chroot isolation, as root), and pushes it. Prints the pushed reference, REGISTRY/NAME@sha256:..., last.
#
#   bash scripts/build-image.sh --registry HOST:PORT [--base official|debian] [--name NAME] [--tag TAG]
#                               [--insecure]
#
# --base official (default): the Dockerfile's own base, python:3.11.10-slim-bookworm pinned by digest
#   (pulled from Docker Hub).
# --base debian: a base made here from Debian bookworm packages (python3 3.11, python3-venv,
#   ca-certificates, netbase) with mmdebstrap, pushed to the same registry as
#   NAME-base/python3:3.11-bookworm and passed to the Dockerfile as BASE_IMAGE by digest. For machines
#   that cannot pull from Docker Hub (CI). Cached for 7 days.
# --insecure: the registry speaks plain HTTP (or TLS this machine does not trust).
#
# The Python packages come from a wheelhouse made here with pip (the versions of
# constraints/runtime.txt, plus the wheel's build requirements), cached per constraints file. It is
# mounted read-only into the build with a pip.conf that points pip at it (no index), so the build
# itself reaches no package index and the Dockerfile stays as a Docker user runs it. buildah keeps
# its storage in a temporary directory, removed at the end with everything it mounted.
# Caches: $SIGWEBHOOK_IMAGE_CACHE (default ~/.cache/sigwebhook-image).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${SIGWEBHOOK_IMAGE_CACHE:-$HOME/.cache/sigwebhook-image}
REGISTRY="" BASE=official NAME=sigwebhook TAG=dev TLS_VERIFY=true
while (($#)); do
  case $1 in
    --registry) REGISTRY=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --insecure) TLS_VERIFY=false; shift ;;
    *) echo "build-image: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -n $REGISTRY ]] || { echo "build-image: --registry HOST:PORT is required" >&2; exit 2; }
[[ $BASE == official || $BASE == debian ]] || { echo "build-image: --base official|debian" >&2; exit 2; }
say() { echo "build-image: $*" >&2; }

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v skopeo >/dev/null || need+=(skopeo)
[[ $BASE == debian ]] && ! command -v mmdebstrap >/dev/null && need+=(mmdebstrap)
if ((${#need[@]})); then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$CACHE"
[[ -e /run/containers ]] && had_run_containers=1 || had_run_containers=0
WORK=$(mktemp -d /var/tmp/sigwebhook-build.XXXXXX)
BUILDAH=(buildah --root "$WORK/storage" --runroot "$WORK/run")
cleanup() {
  "${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
  "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1 || true
  awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$WORK"
  # buildah creates /run/containers (its network configuration directory) even with chroot isolation
  ((had_run_containers)) || rm -rf /run/containers
}
trap cleanup EXIT

# 1. the base
BUILD_ARGS=()
if [[ $BASE == debian ]]; then
  packages=python3,python3-venv,ca-certificates,netbase
  layout=$CACHE/debian-base/$(echo "bookworm $packages v1" | sha256sum | cut -c1-16)
  if [[ ! -f $layout/index.json ]] || [[ -n $(find "$layout/index.json" -mtime +7) ]]; then
    say "making the Debian bookworm base with mmdebstrap ($packages)"
    rm -rf "$layout" && mkdir -p "$layout"
    sources=()  # the machine's own Debian mirror when it names one in deb822 form
    [[ -f /etc/apt/sources.list.d/debian.sources ]] && sources=(/etc/apt/sources.list.d/debian.sources)
    mmdebstrap --quiet --variant=minbase --skip=output/dev --include=$packages \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' bookworm "$WORK/base.tar" "${sources[@]}"
    tar -tf "$WORK/base.tar" ./usr/bin/python3.11 >/dev/null  # the Dockerfile's Python minor version
    python3 scripts/cluster/oci_image.py "$WORK/base.tar" "$layout.tmp" 3.11-bookworm --cmd '["python3"]' >/dev/null
    rm -rf "$layout" && mv "$layout.tmp" "$layout" && rm -f "$WORK/base.tar"
  fi
  base=$REGISTRY/$NAME-base/python3:3.11-bookworm
  skopeo copy -q --dest-tls-verify=$TLS_VERIFY --digestfile "$WORK/base.digest" \
    "oci:$layout:3.11-bookworm" "docker://$base"
  BUILD_ARGS=(--build-arg "BASE_IMAGE=$base@$(cat "$WORK/base.digest")")
  say "base $base@$(cat "$WORK/base.digest")"
fi

# 2. the wheelhouse: every runtime pin, and what building the wheel needs (pyproject's build-system)
wheelhouse=$CACHE/wheelhouse-$(cat constraints/runtime.txt pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -f $wheelhouse/.complete ]]; then
  say "filling the wheelhouse $wheelhouse"
  [[ -x $CACHE/pip-venv/bin/pip ]] || python3 -m venv "$CACHE/pip-venv"
  rm -rf "$wheelhouse"
  build_requires=$(python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
  "$CACHE/pip-venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$wheelhouse" \
    -r <(grep -v '^#' constraints/runtime.txt) -r <(echo "$build_requires") >"$WORK/pip.log" 2>&1 \
    || { tail -n 30 "$WORK/pip.log" >&2; exit 1; }
  touch "$wheelhouse/.complete"
fi
printf '[global]\nno-index = true\nfind-links = /wheelhouse\n' >"$WORK/pip.conf"

# 3. build (docker format: it keeps the Dockerfile's HEALTHCHECK) and push
started=$(date +%s)
"${BUILDAH[@]}" bud --quiet --isolation chroot --format docker --layers=false --tls-verify=$TLS_VERIFY \
  "${BUILD_ARGS[@]}" --volume "$wheelhouse:/wheelhouse:ro" --volume "$WORK/pip.conf:/etc/pip.conf:ro" \
  --tag "localhost/$NAME:$TAG" --file Dockerfile "$ROOT" >"$WORK/build.log" 2>&1 \
  || { tail -n 40 "$WORK/build.log" >&2; exit 1; }
say "built in $(($(date +%s) - started)) s"
"${BUILDAH[@]}" push --quiet --tls-verify=$TLS_VERIFY --digestfile "$WORK/image.digest" \
  "localhost/$NAME:$TAG" "docker://$REGISTRY/$NAME:$TAG"
echo "$REGISTRY/$NAME@$(cat "$WORK/image.digest")"
