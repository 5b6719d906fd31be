"""`sigwebhook verify --key FILE|k8s://NS/NAME [--key …] IMAGE…`: check images against public keys.

Exit 0 when every image has at least one signature that verifies under one of the keys, 1 otherwise
(unsigned, wrong key, tag moved, registry unreachable…), 2 for a usage error. One image's failure is its
own verdict and never hides the others. Transparency-log proofs are not checked;
every report says so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from app import compose
from app.cli.keyrefs import add_key_options, load_keys
from app.cli.options import add_registry_options, registry_settings
from app.cli.output import JSON_HELP, ImageOutcome, to_json, to_text
from app.cli.usage import EXIT_FAILED, EXIT_OK
from app.core.errors import SigwebhookError
from app.core.ports import Registry
from app.core.references import ImageRef, parse_reference
from app.core.trust.keys import TrustedKey
from app.core.verification.verdicts import ImageVerdict
from app.core.verification.verifier import Verifier
from app.registry.settings import RegistrySettings


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `verify` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "verify",
        parents=parents,
        help="verify cosign signatures (v2 .sig tags and v3 bundles) of images",
        description="Verify that each IMAGE has a cosign signature (v2 .sig tag or v3 sigstore bundle "
        "referrer) made by one of the given keys. Exit 0 when all verify, 1 when any does not, 2 on a "
        "usage error. Transparency-log (Rekor) proofs are NOT checked.",
        epilog=JSON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_key_options(parser)
    parser.add_argument(
        "--output", "-o", choices=("text", "json"), default="text", help="report format (default text)"
    )
    add_registry_options(parser)
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image reference (tag or digest)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `verify` with the parsed `args`; the exit code."""
    keys = load_keys(args.keys, args.kubeconfig)
    settings = registry_settings(args)
    outcomes = asyncio.run(verify_images(settings, keys, args.images))
    print(
        to_json(outcomes) if args.output == "json" else to_text(outcomes),
        end="" if args.output == "text" else "\n",
    )
    for outcome in outcomes:
        if not outcome.ok:
            print(f"sigwebhook: {outcome.image}: not verified: {outcome.failure()}", file=sys.stderr)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED


async def verify_images(
    settings: RegistrySettings, keys: Sequence[TrustedKey], images: Sequence[str]
) -> list[ImageOutcome]:
    """Verify every image (concurrently) with one registry client; one outcome per image, in order."""
    async with compose.open_registry(settings) as registry:
        verifier = compose.build_verifier(registry)
        return list(await asyncio.gather(*(_verify_one(registry, verifier, keys, image) for image in images)))


async def _verify_one(
    registry: Registry, verifier: Verifier, keys: Sequence[TrustedKey], image: str
) -> ImageOutcome:
    try:
        ref = parse_reference(image)
    except SigwebhookError as exc:
        return ImageOutcome(image, error=exc.reason)
    try:
        verdict = await verifier.verify(ref, keys)
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
