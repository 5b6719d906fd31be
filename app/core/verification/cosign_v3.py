"""Check cosign v3 signatures: sigstore bundles attached to the image as OCI 1.1 referrers.

What cosign 3 `verify` does (docs/formats.md#v3-verify, cosign `GetBundles` and sigstore-go), for each
referrer independently:

1. skip, without fetching, referrers whose `artifactType` says they are not bundles (SBOMs, …);
2. fetch the manifest; it is a bundle only with exactly one `application/vnd.dev.sigstore.bundle*`
   layer (anything else is another kind of attachment and is skipped silently);
3. fetch and parse the bundle; require v0.3 or later and a DSSE envelope of `application/vnd.in-toto+json`;
4. turn it into a `SignedEntity` (`bundle_entities`) and verify it against every trust group
   (`CheckContext.verify_entity`: the envelope signature over the PAE, log entries, times, certificate,
   signer);
5. only then parse the in-toto statement: some subject must name the image digest (cosign's
   `IntotoSubjectClaimVerifier`; a statement may sign several images), and the predicateType must be
   one of `VerifyOptions.accepted_predicate_types` (cosign's sign predicate by default; stricter than
   cosign, which accepts any attestation as a signature).

The referrer manifest's own `subject` is not signed and is not trusted: the signed statement binds the
signature to the image. Registry failures propagate (see `verifier`).
"""

from __future__ import annotations

from app.core.errors import RegistryProtocolError, SignatureFormatError, shown
from app.core.formats.bundles import Bundle, MessageSignature, parse_bundle
from app.core.formats.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, parse_statement
from app.core.formats.layouts import is_bundle_artifact, parse_referrer_manifest
from app.core.ports import MAX_BUNDLE_BYTES, Descriptor
from app.core.verification.bundle_entities import entity_from_bundle
from app.core.verification.context import Broken, CheckContext, Findings, Outcome, garbage, gather
from app.core.verification.verdicts import RejectedSignature, SignatureFormat, VerifiedSignature

V3 = SignatureFormat.COSIGN_V3_BUNDLE
OLDEST_IMAGE_BUNDLE = (0, 3)  # cosign requires bundle v0.3+ for image signatures


async def check_referrers(context: CheckContext) -> Outcome | Findings:
    """Every referrer of the image that may be a sigstore bundle, checked concurrently."""
    where = f"referrers of {context.digest}"
    try:
        referrers = await context.list_referrers()
    except RegistryProtocolError as exc:
        return RejectedSignature(V3, where, garbage(exc))
    unique = {r.digest: r for r in referrers}.values()  # an index may list a manifest twice
    candidates = [r for r in unique if is_bundle_artifact(r.artifact_type)]
    too_many = context.too_many(len(candidates), "bundle referrers")
    if too_many:
        return RejectedSignature(V3, where, too_many)
    return await gather([(V3, _check_referrer(context, r)) for r in candidates])


async def _check_referrer(context: CheckContext, referrer: Descriptor) -> Outcome:
    location = f"referrer {referrer.digest}"
    try:
        manifest = await context.fetch_manifest(referrer.digest)
        if manifest is None:
            return RejectedSignature(V3, location, "referrer manifest is listed but missing")
        layer = parse_referrer_manifest(manifest.data)
        if layer is None:
            return []  # not a sigstore bundle: another kind of attachment
        bundle = parse_bundle(await context.blob(layer, MAX_BUNDLE_BYTES, "bundle"))
    except (SignatureFormatError, RegistryProtocolError, Broken) as exc:
        return RejectedSignature(V3, location, garbage(exc))
    if bundle.version < OLDEST_IMAGE_BUNDLE:
        major, minor = bundle.version
        return RejectedSignature(
            V3,
            location,
            f"bundle version {major}.{minor} is older than 0.3, which cosign requires for images",
        )
    if isinstance(bundle.content, MessageSignature):
        return RejectedSignature(
            V3, location, "bundle holds a message signature (signs a blob), not a DSSE image signature"
        )
    return _check_envelope(context, bundle, bundle.content, location)


def _check_envelope(context: CheckContext, bundle: Bundle, envelope: Envelope, location: str) -> Outcome:
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return RejectedSignature(
            V3, location, f"DSSE payloadType {envelope.payload_type[:80]!r} is not {IN_TOTO_PAYLOAD_TYPE}"
        )
    try:
        entity = entity_from_bundle(bundle)
    except SignatureFormatError as exc:
        return RejectedSignature(V3, location, garbage(exc))
    found = context.verify_entity(V3, location, entity)
    if isinstance(found, RejectedSignature) or not any(isinstance(f, VerifiedSignature) for f in found):
        return found
    try:
        statement = parse_statement(envelope.payload)
    except SignatureFormatError as exc:
        return RejectedSignature(V3, location, garbage(exc))
    if statement.subject_for(context.digest) is None:
        return RejectedSignature(V3, location, f"bundle subject does not name the image {context.digest}")
    accepted = context.options.accepted_predicate_types
    if statement.predicate_type not in accepted:
        wanted = " or ".join(sorted(accepted)) or "any accepted type"
        return RejectedSignature(
            V3, location, f"bundle predicateType {shown(statement.predicate_type, 120)} is not {wanted}"
        )
    return found
