"""Verify a sigstore bundle for an artifact (a file, or only its digest): what `verify-bundle` does.

The sigstore-conformance protocol's verify half (`docs/cli_protocol.md`): the bundle must verify
(`entity_checks`) and be about the artifact — a `messageSignature` signs the artifact's digest; a DSSE
envelope must hold an in-toto statement with a subject whose sha256 is the artifact's. The statement is
read only after its signature verified. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.core.digests import Digest
from app.core.errors import NotVerified, SignatureFormatError
from app.core.formats.bundles import parse_bundle
from app.core.formats.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, parse_statement
from app.core.trust.roots import TrustedRoot
from app.core.trust.signers import TrustedSigner
from app.core.verification.bundle_entities import entity_from_bundle
from app.core.verification.entities import SignedMessage
from app.core.verification.entity_checks import EntityVerdict, Requirements, verify_entity


def verify_bundle_for_artifact(
    bundle: bytes,
    digest: Digest,
    data: bytes | None,
    root: TrustedRoot,
    signers: Sequence[TrustedSigner],
    requirements: Requirements,
    now: datetime,
) -> EntityVerdict:
    """The verdict for `bundle` over the artifact `digest` (with its `data` when at hand);
    `NotVerified` saying which step failed."""
    try:
        parsed = parse_bundle(bundle)
        entity = entity_from_bundle(parsed, SignedMessage(digest.algorithm, bytes.fromhex(digest.hex), data))
    except SignatureFormatError as exc:
        raise NotVerified("material", exc.reason, exc.detail) from exc
    verdict = verify_entity(entity, root, signers, requirements, now)
    if isinstance(entity.content, Envelope):
        _check_subject(entity.content, digest)
    return verdict


def _check_subject(envelope: Envelope, digest: Digest) -> None:
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise NotVerified(
            "material", f"DSSE payloadType {envelope.payload_type[:80]!r} is not an in-toto statement"
        )
    try:
        statement = parse_statement(envelope.payload)
    except SignatureFormatError as exc:
        raise NotVerified("material", exc.reason) from exc
    if statement.subject_for(digest) is None:
        raise NotVerified(
            "material", f"the in-toto statement has no subject with the artifact's digest {digest}"
        )
