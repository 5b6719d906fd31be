"""cosign's trust flags, shared by `verify` and `verify-bundle`: keyless identity, trusted root, and
what may be waived.

- `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]`: the keyless identity
  (one of each pair; a regular expression must match the whole value, where cosign's need not);
- `--trusted-root FILE`: a Sigstore trusted root JSON (default: the built-in public-good root);
- `--insecure-ignore-tlog`: no log entry is required (entries present are still checked);
  `--insecure-ignore-sct`: no embedded SCT is required of a Fulcio certificate.
With neither waiver a signature needs a verified log entry, as `cosign verify` does by default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.keyrefs import load_keys
from app.cli.usage import UsageError
from app.core.errors import ConfigError
from app.core.trust.identities import IdentityMatcher
from app.core.trust.signers import IdentitySigner, KeySigner, TrustedSigner
from app.core.verification.entity_checks import Requirements

IDENTITY_FLAGS = "--certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]"


def add_identity_options(parser: argparse.ArgumentParser) -> None:
    """The keyless identity flags."""
    parser.add_argument("--certificate-identity", metavar="ID", help="expected certificate SAN (exact)")
    parser.add_argument(
        "--certificate-identity-regexp", metavar="RE", help="certificate SAN pattern (must match all of it)"
    )
    parser.add_argument("--certificate-oidc-issuer", metavar="URL", help="expected OIDC issuer (exact)")
    parser.add_argument(
        "--certificate-oidc-issuer-regexp", metavar="RE", help="OIDC issuer pattern (must match all of it)"
    )


def add_root_options(parser: argparse.ArgumentParser) -> None:
    """`--trusted-root` and the two waivers."""
    parser.add_argument(
        "--trusted-root",
        type=Path,
        metavar="FILE",
        help="Sigstore trusted root JSON (default: the built-in public-good root)",
    )
    parser.add_argument(
        "--insecure-ignore-tlog",
        action="store_true",
        help="do not require a transparency log entry (entries present are still checked)",
    )
    parser.add_argument(
        "--insecure-ignore-sct",
        action="store_true",
        help="do not require an embedded SCT in a keyless signing certificate",
    )


def identity_given(args: argparse.Namespace) -> bool:
    return any(
        value is not None
        for value in (
            args.certificate_identity,
            args.certificate_identity_regexp,
            args.certificate_oidc_issuer,
            args.certificate_oidc_issuer_regexp,
        )
    )


def signers(args: argparse.Namespace, kubeconfig: str | None = None) -> list[TrustedSigner]:
    """The keys (`--key`, Secrets read through `kubeconfig`) or the identity the flags name: one of the two."""
    if bool(args.keys) == identity_given(args):
        raise UsageError(f"give either --key, or {IDENTITY_FLAGS}")
    if args.keys:
        return [KeySigner(key) for key in load_keys(args.keys, kubeconfig)]
    return [identity_signer(args)]


def identity_signer(args: argparse.Namespace) -> IdentitySigner:
    """The keyless identity the flags describe; `UsageError` unless one of each pair is given."""
    try:
        matcher = IdentityMatcher.build(
            args.certificate_identity,
            args.certificate_identity_regexp,
            args.certificate_oidc_issuer,
            args.certificate_oidc_issuer_regexp,
            where="--certificate-identity/--certificate-oidc-issuer",
        )
    except ConfigError as exc:
        raise UsageError(exc.reason) from exc
    return IdentitySigner(matcher)


def requirements(args: argparse.Namespace) -> Requirements:
    """What the waivers leave required."""
    return Requirements(transparency_log=not args.insecure_ignore_tlog, sct=not args.insecure_ignore_sct)
