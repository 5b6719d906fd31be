"""`sigwebhook verify-bundle`: verify a sigstore bundle for a file or digest, offline.

The verify half of the sigstore-conformance CLI protocol (sigstore-conformance `docs/cli_protocol.md`):

    verify-bundle --bundle FILE --certificate-identity ID --certificate-oidc-issuer URL [--trusted-root FILE] FILE_OR_DIGEST
    verify-bundle --bundle FILE --key KEY [--trusted-root FILE] FILE_OR_DIGEST

FILE_OR_DIGEST is `sha256:<64 hex>` when it has that form and is not a path on disk, else a file path.
Exit 0 only when the bundle verifies; 1 when it does not (the reason on stderr); 2 for a usage error.
Everything comes from the bundle and the trusted root (default: the built-in public-good root); no
network. Also takes cosign's `--certificate-identity-regexp`, `--certificate-oidc-issuer-regexp`,
`--insecure-ignore-tlog` and `--insecure-ignore-sct`.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from app.cli.trustopts import add_identity_options, add_root_options, requirements, signers
from app.cli.usage import EXIT_OK, UsageError
from app.clock import SYSTEM_CLOCK
from app.core.digests import Digest
from app.core.ports import MAX_BUNDLE_BYTES
from app.core.verification.artifacts import verify_bundle_for_artifact
from app.core.verification.entity_checks import EntityVerdict
from app.trust_files import load_trusted_root, read_file

MAX_ARTIFACT_BYTES = 1 << 30
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `verify-bundle` on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "verify-bundle",
        parents=parents,
        help="verify a sigstore bundle for a file or digest (sigstore-conformance protocol)",
        description="Verify that BUNDLE signs FILE_OR_DIGEST, by KEY or by the keyless identity, with "
        "transparency-log proofs, certificates and timestamps checked offline against the trusted root. "
        "Exit 0 only when verified.",
    )
    parser.add_argument("--bundle", required=True, type=Path, metavar="FILE", help="the sigstore bundle")
    parser.add_argument(
        "--key", dest="keys", action="append", default=[], metavar="KEY", help="public key (PEM)"
    )
    add_identity_options(parser)
    add_root_options(parser)
    parser.add_argument("--staging", action="store_true", help="not supported: pass --trusted-root instead")
    parser.add_argument("artifact", metavar="FILE_OR_DIGEST", help="the signed file, or sha256:<hex>")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `verify-bundle`; the exit code (a failure raises, and `main` reports it)."""
    if args.staging:
        raise UsageError("--staging: no staging root is built in; pass its trusted root with --trusted-root")
    trusted = signers(args)
    root = load_trusted_root(args.trusted_root)
    bundle = read_file(args.bundle, MAX_BUNDLE_BYTES, "bundle")
    digest, data = _artifact(args.artifact)
    verdict = verify_bundle_for_artifact(
        bundle, digest, data, root, trusted, requirements(args), SYSTEM_CLOCK.now()
    )
    print(_report(verdict))
    return EXIT_OK


def _artifact(text: str) -> tuple[Digest, bytes | None]:
    """The protocol's FILE_OR_DIGEST: a digest when it looks like one and is not a file on disk."""
    if _DIGEST.fullmatch(text) and not Path(text).exists():
        return Digest.parse(text), None
    data = read_file(Path(text), MAX_ARTIFACT_BYTES, "artifact")
    return Digest.of(data), data


def _report(verdict: EntityVerdict) -> str:
    lines = [f"Verified OK: signed by {', '.join(str(e) for e in verdict.evidence)}"]
    for entry in verdict.log_entries:
        when = f" at {entry.integrated_time:%Y-%m-%dT%H:%M:%SZ}" if entry.integrated_time else ""
        lines.append(f"  transparency log {entry.log_url} entry {entry.log_index}{when}")
    lines.extend(
        f"  {time.source} at {time.moment:%Y-%m-%dT%H:%M:%SZ}"
        for time in verdict.times
        if time.from_timestamp
    )
    return "\n".join(lines)
