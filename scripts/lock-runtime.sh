#!/usr/bin/env bash
# Re-pins constraints/runtime.txt: installs the package alone into a scratch venv and records every
# runtime dependency's resolved version. Review the diff, then run scripts/test.sh (which installs with
# these pins) before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install -q --upgrade pip >/dev/null
"$scratch/venv/bin/pip" install -q .
{
  echo "# Runtime dependencies of sigwebhook, pinned: what the image installs (Dockerfile) and what CI tests"
  echo "# (scripts/test.sh installs with -c this file). Regenerate with: bash scripts/lock-runtime.sh"
  "$scratch/venv/bin/pip" freeze --exclude sigwebhook | grep -v '^sigwebhook'
} >constraints/runtime.txt
echo "constraints/runtime.txt: $(grep -vc '^#' constraints/runtime.txt) pins"
