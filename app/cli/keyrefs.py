"""Where `verify --key` finds public keys: a PEM file, or a Kubernetes Secret (`k8s://namespace/name`).

A Secret is read once through the Kubernetes adapter (`app.kube`) with the local kubeconfig
(`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`; in a pod, the service account). It yields
the keys of its `cosign.pub` / `*.pub` / `*.pem` entries, as the webhook reads them. The kubernetes
library is imported only when a Secret is named: the other commands never pay for it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.cli.usage import UsageError
from app.core.errors import ConfigError, KeyLoadError
from app.core.trust.keys import TrustedKey, load_public_key
from app.core.trust.secretkeys import SecretRef, is_secret_reference
from app.trust_files import read_file

MAX_PUBLIC_KEY_BYTES = 64 * 1024
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """`--key FILE|k8s://NS/NAME` (repeatable) and `--kubeconfig`, for the commands that verify."""
    parser.add_argument(
        "--key",
        dest="keys",
        metavar="FILE|k8s://NS/NAME",
        action="append",
        default=[],
        help="public key to trust: a PEM file, or a Secret's cosign.pub (k8s://namespace/name); "
        "repeatable: an image passes when any key verifies it",
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig for k8s:// keys (default: $KUBECONFIG, then ~/.kube/config)",
    )


def load_keys(
    references: Sequence[str], kubeconfig: str | None = None, environ: Mapping[str, str] | None = None
) -> list[TrustedKey]:
    """Every key the `--key` options name; a missing or unusable one stops the command, named."""
    keys: list[TrustedKey] = []
    for reference in references:
        if is_secret_reference(reference):
            keys.extend(_secret_keys(reference, kubeconfig, os.environ if environ is None else environ))
        else:
            keys.append(_file_key(Path(reference)))
    return keys


def _file_key(path: Path) -> TrustedKey:
    return load_public_key(read_file(path, MAX_PUBLIC_KEY_BYTES, "key", KeyLoadError), path.name)


def _secret_keys(
    reference: str, kubeconfig: str | None, environ: Mapping[str, str]
) -> tuple[TrustedKey, ...]:
    try:
        ref = SecretRef.parse(reference)
    except ConfigError as exc:
        raise UsageError(f"--key {reference}: {exc.reason}") from exc
    config = kubeconfig_path(kubeconfig, environ)
    from app.kube.client import connect
    from app.kube.keysecrets import parse_secret_keys

    secret, _ = connect(config).list_secret(ref)
    if secret is None:
        raise KeyLoadError(f"--key {ref}: Secret {ref.name} not found in namespace {ref.namespace}")
    return parse_secret_keys(secret)


def kubeconfig_path(
    option: str | None, environ: Mapping[str, str], needs: str = "k8s:// keys need"
) -> Path | None:
    """The kubeconfig to use (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`), or None for the
    in-cluster service account; `UsageError` saying what `needs` a cluster if there is neither."""
    if option:
        if not Path(option).is_file():
            raise UsageError(f"--kubeconfig: {option} is not a readable file")
        return Path(option)
    for candidate in environ.get("KUBECONFIG", "").split(os.pathsep):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    default = Path(environ.get("HOME", str(Path.home()))) / ".kube" / "config"
    if default.is_file():
        return default
    if environ.get(IN_CLUSTER_ENV):
        return None
    raise UsageError(f"{needs} a cluster: pass --kubeconfig FILE or set KUBECONFIG")
