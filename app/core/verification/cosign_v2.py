"""Check cosign v2 signatures: the `sha256-<hex>.sig` manifest beside the image, one layer per signature.

What `cosign verify` does on its legacy path (docs/formats.md#sig-tag-verify, cosign
`pkg/cosign/verify.go`), in order, for each simple-signing layer independently:

1. fetch the payload blob and check it against the layer's digest and size (shared between layers);
2. turn the layer into a `SignedEntity` (`layer_entities`: signature, certificate, Rekor bundle,
   timestamp annotations) and verify it against every trust group (`CheckContext.verify_entity`:
   signature, log entry, times, certificate, signer);
3. only then parse the payload and check its claims: `critical.type` is cosign's, and
   `critical.image.docker-manifest-digest` is exactly the image digest (`simplesigning.claims_problem`).

A missing `.sig` tag means no v2 signatures. A manifest or layer that cannot be read is a rejection, as
are more layers than `VerifyOptions.max_signatures`. Registry failures propagate (see `verifier`).
Must not: trust a payload before its signature verified, or read the payload's `docker-reference`.
"""

from __future__ import annotations

from app.core.errors import RegistryProtocolError, SignatureFormatError
from app.core.formats.layouts import BrokenLayer, SignatureLayer, parse_signature_layer, sig_manifest_entries
from app.core.formats.simplesigning import parse_payload
from app.core.ports import MAX_PAYLOAD_BYTES
from app.core.verification.context import Broken, CheckContext, Findings, Outcome, garbage, gather
from app.core.verification.layer_entities import entity_from_layer
from app.core.verification.verdicts import RejectedSignature, SignatureFormat, VerifiedSignature

V2 = SignatureFormat.COSIGN_V2_SIG_TAG


async def check_sig_tag(context: CheckContext) -> Outcome | Findings:
    """Every signature layer of the image's `.sig` manifest, checked concurrently."""
    tag = context.digest.signature_tag
    try:
        manifest = await context.fetch_manifest(tag)
        if manifest is None:
            return []  # 404: no v2 signatures (cosign SIGNATURE_SPEC)
        entries = sig_manifest_entries(manifest.data)
    except (SignatureFormatError, RegistryProtocolError) as exc:
        return RejectedSignature(V2, tag, garbage(exc))
    too_many = context.too_many(len(entries), "signature layers")  # before any layer is parsed
    if too_many:
        return RejectedSignature(V2, tag, too_many)
    layers = [parse_signature_layer(index, raw) for index, raw in entries]
    return await gather([(V2, _check_layer(context, tag, layer)) for layer in layers])


async def _check_layer(context: CheckContext, tag: str, layer: SignatureLayer | BrokenLayer) -> Outcome:
    location = f"{tag} layer {layer.index}"
    if isinstance(layer, BrokenLayer):
        return RejectedSignature(V2, location, f"garbage: {layer.reason}")
    try:
        signature = layer.signature()
        payload = await context.blob(layer.descriptor, MAX_PAYLOAD_BYTES, "payload")
        entity = entity_from_layer(layer.annotations, signature, payload)
    except (SignatureFormatError, Broken) as exc:
        return RejectedSignature(V2, location, garbage(exc))
    found = context.verify_entity(V2, location, entity)
    if isinstance(found, RejectedSignature) or not any(isinstance(f, VerifiedSignature) for f in found):
        return found
    try:
        problem = parse_payload(payload).claims_problem(context.digest)
    except SignatureFormatError as exc:
        return RejectedSignature(V2, location, garbage(exc))
    if problem:
        return RejectedSignature(V2, location, problem)
    return found
