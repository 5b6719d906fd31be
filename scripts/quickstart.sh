#!/usr/bin/env bash
# Quick start on a fresh machine, no cluster needed: install sigwebhook into .venv, start a local
# registry with a signed and an unsigned demo image, and run the admission webhook on
# https://127.0.0.1:8443 with keys from files and a self-signed certificate. It prints the curl
# commands that send an AdmissionReview for each demo pod. Ctrl-C stops the webhook and the registry.
# Needs root for apt-get when docker-registry is missing; without it, it serves examples/local.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SIGWEBHOOK_VENV:-$ROOT/.venv}
DEMO=$ROOT/local/demo
PORT=${DEMO_REGISTRY_PORT:-5000}

[[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null
"$VENV/bin/pip" install -q -e .
export PATH=$VENV/bin:$PATH

if ! command -v docker-registry >/dev/null && [[ $(id -u) == 0 ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry) >/dev/null 2>&1 || true
fi
if ! command -v docker-registry >/dev/null; then
  echo "docker-registry is not available: serving the embedded example (every review is denied: no registry)." >&2
  exec sigwebhook serve --config examples/local/config.yaml
fi

mkdir -p "$DEMO/registry"
cat >"$DEMO/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $DEMO/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
YAML
docker-registry serve "$DEMO/registry.yml" >"$DEMO/registry.log" 2>&1 &
REGISTRY_PID=$!
trap 'kill $REGISTRY_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done

python scripts/demo_setup.py "127.0.0.1:$PORT" "$DEMO"
cat >&2 <<MSG

Demo registry: http://127.0.0.1:$PORT (demo/signed:1.0 is signed in both cosign layouts, demo/unsigned:1.0 is not).
Verify by hand:  .venv/bin/sigwebhook verify --key local/demo/cosign.pub --insecure-ignore-tlog --insecure-registry 127.0.0.1:$PORT 127.0.0.1:$PORT/demo/signed:1.0
Once the webhook is up, in another terminal:
  curl -s --cacert local/demo/tls/tls.crt -H 'Content-Type: application/json' --data @local/demo/review-signed.json https://localhost:8443/validate
  curl -s --cacert local/demo/tls/tls.crt -H 'Content-Type: application/json' --data @local/demo/review-unsigned.json https://localhost:8443/validate

MSG
sigwebhook serve --config "$DEMO/config.yaml"
