"""`sigwebhook sign --key FILE [--bundle] [-a k=v …] IMAGE…`: sign images with a cosign key file.

Signs the manifest digest even when IMAGE names a tag (with cosign's warning that a tag is a moving
target). Default layout: a cosign v2 signature at tag `sha256-<hex>.sig`; `--bundle`: a cosign v3 sigstore
bundle as an OCI 1.1 referrer. Nothing is uploaded to a transparency log, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app import compose
from app.cli.options import add_registry_options, registry_settings
from app.cli.output import fingerprint_label
from app.cli.passwords import password_source
from app.cli.usage import EXIT_OK, UsageError
from app.core.references import ImageRef, parse_reference
from app.core.trust.secretkeys import is_secret_reference
from app.registry.settings import RegistrySettings
from app.signing.signer import SignOutcome, sign_image
from app.signing.signingkey import SigningKey, load_signing_key

NO_TLOG_NOTICE = (
    "Nothing was uploaded to a transparency log (Rekor): verify with keys and without tlog checks "
    "(cosign verify --insecure-ignore-tlog, or sigwebhook verify)."
)


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `sign` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "sign",
        parents=parents,
        help="sign images with a cosign key file (v2 .sig tag, or v3 bundle with --bundle)",
        description="Sign each IMAGE's manifest digest with a private key (cosign encrypted key or plain "
        "PEM; the password comes from COSIGN_PASSWORD or a prompt) and store the signature in the "
        "image's repository. No transparency-log upload.",
    )
    parser.add_argument("--key", required=True, metavar="FILE", help="private key file (cosign.key or PEM)")
    parser.add_argument(
        "--bundle",
        action="store_true",
        help="write a cosign v3 sigstore bundle as an OCI 1.1 referrer instead of a v2 .sig signature",
    )
    parser.add_argument(
        "-a",
        "--annotation",
        dest="annotations",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="annotation to sign into the payload (repeatable)",
    )
    add_registry_options(parser)
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image reference (tag or digest)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `sign` with the parsed `args`; the exit code."""
    annotations = parse_annotations(args.annotations)
    refs = [parse_reference(image) for image in args.images]  # all refs are checked before any signing
    if is_secret_reference(args.key):
        raise UsageError(
            f"--key {args.key}: signing with a Kubernetes Secret key is not supported by the CLI yet"
        )
    settings = registry_settings(args)
    key = load_signing_key(Path(args.key), password_source(Path(args.key).name))
    for ref in refs:
        if ref.digest is None:
            print(
                f"WARNING: {ref} is a tag, a moving target: signing the digest it names now. "
                f"Sign {ref.repository}@sha256:… to sign exactly what you reviewed.",
                file=sys.stderr,
            )
    asyncio.run(_sign_all(settings, refs, key, args.bundle, annotations))
    print(NO_TLOG_NOTICE)
    return EXIT_OK


async def _sign_all(
    settings: RegistrySettings,
    refs: Sequence[ImageRef],
    key: SigningKey,
    bundle: bool,
    annotations: Mapping[str, str],
) -> None:
    async with compose.open_registry(settings) as registry:
        for ref in refs:
            outcome = await sign_image(registry, ref, key, bundle=bundle, annotations=annotations)
            print(describe(outcome, key))


def describe(outcome: SignOutcome, key: SigningKey) -> str:
    """One line saying what was signed, with which key, and where the signature is."""
    signer = f"{key.name} ({fingerprint_label(key.public.fingerprint)})"
    where = outcome.location + (
        " and referrers index tag " + outcome.digest.tag_prefix if outcome.fallback_index else ""
    )
    if not outcome.added:
        return f"Already signed: {outcome.reference.pinned()} by {signer}; {outcome.format.describe()} at {where} unchanged"
    return f"Signed {outcome.reference.pinned()} with {signer}: {outcome.format.describe()} stored at {where}"


def parse_annotations(values: Sequence[str]) -> dict[str, str]:
    """`-a KEY=VALUE` options as a dict; `UsageError` for a value without `=` or an empty key."""
    annotations: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-a {value!r}: expected KEY=VALUE")
        annotations[name] = text
    return annotations
