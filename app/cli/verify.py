"""`sigwebhook verify (--key FILE|k8s://NS/NAME … | --certificate-identity… --certificate-oidc-issuer…)
IMAGE…`: check images against public keys or a keyless identity, with cosign's flags.

Exit 0 when every image has at least one signature that a trusted key or identity verifies, 1
otherwise (unsigned, wrong key or identity, no log entry, tag moved, registry unreachable…), 2 for a
usage error. One image's failure is its own verdict and never hides the others. As `cosign verify`, a
signature needs a verified transparency log entry unless `--insecure-ignore-tlog` is given (a report
then says so); proofs, certificates and timestamps are checked offline against the trusted root
(`--trusted-root`, default: the built-in public-good root).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from app import compose
from app.cli.keyrefs import add_key_options
from app.cli.options import add_registry_options, registry_settings
from app.cli.output import JSON_HELP, ImageOutcome, to_json, to_text
from app.cli.trustopts import add_identity_options, add_root_options, requirements, signers
from app.cli.usage import EXIT_FAILED, EXIT_OK
from app.core.errors import SigwebhookError
from app.core.ports import Registry
from app.core.references import ImageRef, parse_reference
from app.core.trust.roots import TrustedRoot
from app.core.verification.entity_checks import Requirements
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.core.verification.verifier import Verifier
from app.registry.settings import RegistrySettings
from app.trust_files import load_trusted_root


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `verify` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "verify",
        parents=parents,
        help="verify cosign signatures (v2 .sig tags and v3 bundles) of images",
        description="Verify that each IMAGE has a cosign signature (v2 .sig tag or v3 sigstore bundle "
        "referrer) made by one of the given keys, or keylessly by the given identity. As cosign verify, "
        "a verified transparency log entry is required unless --insecure-ignore-tlog is given; proofs, "
        "certificates and timestamps are checked offline against the trusted root. Exit 0 when all "
        "verify, 1 when any does not, 2 on a usage error.",
        epilog=JSON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_key_options(parser)
    add_identity_options(parser)
    add_root_options(parser)
    parser.add_argument(
        "--output", "-o", choices=("text", "json"), default="text", help="report format (default text)"
    )
    add_registry_options(parser)
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image reference (tag or digest)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `verify` with the parsed `args`; the exit code."""
    trust = _trust(args)
    settings = registry_settings(args)
    outcomes = asyncio.run(verify_images(settings, trust, args.images))
    required = not args.insecure_ignore_tlog
    print(
        to_json(outcomes, required) if args.output == "json" else to_text(outcomes, required),
        end="" if args.output == "text" else "\n",
    )
    for outcome in outcomes:
        if not outcome.ok:
            print(f"sigwebhook: {outcome.image}: not verified: {outcome.failure()}", file=sys.stderr)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


def _trust(args: argparse.Namespace) -> Trust:
    """The keys or the identity the flags name, under the trusted root and the waivers."""
    root: TrustedRoot = load_trusted_root(args.trusted_root)
    required: Requirements = requirements(args)
    return Trust.of((signer, root, required) for signer in signers(args, args.kubeconfig))


async def verify_images(
    settings: RegistrySettings, trust: Trust, images: Sequence[str]
) -> list[ImageOutcome]:
    """Verify every image (concurrently) with one registry client; one outcome per image, in order."""
    async with compose.open_registry(settings) as registry:
        verifier = compose.build_verifier(registry)
        return list(
            await asyncio.gather(*(_verify_one(registry, verifier, trust, image) for image in images))
        )


async def _verify_one(registry: Registry, verifier: Verifier, trust: Trust, image: str) -> ImageOutcome:
    try:
        ref = parse_reference(image)
    except SigwebhookError as exc:
        return ImageOutcome(image, error=exc.reason)
    try:
        verdict = await verifier.verify(ref, trust)
        if ref.digest is not None and not verdict.verified and not verdict.rejected:
            return await _unsigned_or_absent(registry, image, ref, verdict)
    except SigwebhookError as exc:
        return ImageOutcome(image, ref, error=exc.reason)
    return ImageOutcome(image, ref, verdict)


async def _unsigned_or_absent(
    registry: Registry, image: str, ref: ImageRef, verdict: ImageVerdict
) -> ImageOutcome:
    """A digest is taken on trust (no round trip); before calling it unsigned, say so if it is absent."""
    assert ref.digest is not None
    if await registry.fetch_manifest(ref.repository, ref.digest) is None:
        return ImageOutcome(
            image, ref, error=f"image {ref} not found: {ref.registry} has no manifest {ref.digest}"
        )
    return ImageOutcome(image, ref, verdict)
