"""What the keyless CLI tests share: the flags naming the private Sigstore instance's CI identity, and
the `sigwebhook verify` command line for images in the test registry under the instance's trusted root."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.support.registry_server import TestRegistry
from tests.support.sigstore.instance import GITHUB, WORKFLOW

IDENTITY = ("--certificate-identity", WORKFLOW, "--certificate-oidc-issuer", GITHUB)


def verify_args(
    registry: TestRegistry, root: Path, images: Sequence[str], flags: Sequence[str] = IDENTITY
) -> list[str]:
    """`verify FLAGS --trusted-root ROOT --insecure-registry HOST -o json IMAGE…`."""
    return [
        "verify",
        *flags,
        "--trusted-root",
        str(root),
        "--insecure-registry",
        registry.host,
        "-o",
        "json",
        *images,
    ]
