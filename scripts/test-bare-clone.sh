#!/usr/bin/env bash
# Proves that a clone of the repository needs nothing beside it. Clones the committed HEAD into a new,
# empty temporary directory (so nothing at all sits next to it) and, with the venv that
# scripts/test.sh installed but the clone's code first on PYTHONPATH, collects the whole suite (where a
# test reading outside the repository failed before) and runs the tests that read the vendored data in
# tests/assets (the interop vectors, and the 70 sigstore-conformance cases through the clone's
# `sigwebhook verify-bundle`, which also needs the built-in trusted root shipped as package data) plus
# the guard that no file points outside the repository. About 45 s on 2 cores (the conformance run is
# 25 of them); the whole suite is not run a second time (scripts/test.sh ran it, and the guard covers
# what differs). .ci/run calls it after scripts/test.sh. Uncommitted changes are not in the clone:
# commit first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SIGWEBHOOK_VENV:-$ROOT/.venv}
[[ -x $VENV/bin/python ]] || { echo "no venv at $VENV: run scripts/test.sh first" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
git clone -q "$ROOT" "$TMP/repo"
[[ $(ls -A "$TMP") == repo ]] || { echo "something sits beside the clone in $TMP" >&2; exit 1; }
cd "$TMP/repo"
export PATH=$VENV/bin:$PATH PYTHONPATH=$TMP/repo
# the clone's code, not the checkout's, is what pytest and the `sigwebhook` script import (-P: no
# current directory on sys.path, as for a console script; PYTHONPATH still comes before the venv)
where=$(python -P -c 'import app; print(app.__file__)')
[[ $where == "$TMP/repo/"* ]] || { echo "app is imported from $where, not from the clone" >&2; exit 1; }
python -m pytest -q -p no:cacheprovider --collect-only tests >/dev/null
python -m pytest -q -p no:cacheprovider tests/repository tests/interop tests/cli/test_cli_interop.py \
  tests/signing/test_keyfiles.py tests/registry/test_fixtures.py tests/cli/test_cli_conformance.py
