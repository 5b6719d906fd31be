"""Sign an image and store the signature the way cosign does, in either layout.

- Legacy (cosign v2, default): a simple-signing payload (docker-reference = the repository without tag,
  `optional` = the `-a` annotations or null) signed with the key, appended as one more layer of the
  manifest at tag `sha256-<hex>.sig` (cosign SIGNATURE_SPEC; docs/formats.md#sig-tag). The existing manifest
  is read first and kept; an identical signature is not added twice.
- Bundle (cosign v3, `--bundle`): an in-toto Statement v1 (predicate `https://sigstore.dev/cosign/sign/v1`)
  in a DSSE envelope signed over PAE, wrapped in a sigstore bundle v0.3 with `publicKey.hint`, pushed as an
  OCI 1.1 referrer by digest; on registries without the referrers API the `sha256-<hex>` fallback index
  is updated too (OCI distribution spec v1.1 "Referrers Tag Schema"; docs/formats.md#v3-bundles).

Nothing is uploaded to a transparency log (like `cosign sign --tlog-upload=false`). All registry access
goes through the core's `Registry` and `RegistryWriter` ports; the object layouts come from
`app.core.formats.layouts`, so signer and verifier agree on them by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.clock import SYSTEM_CLOCK
from app.core.digests import Digest
from app.core.errors import ImageNotFound
from app.core.formats.bundles import BUNDLE_V03_MEDIA_TYPE, build_bundle
from app.core.formats.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, build_statement, pae
from app.core.formats.layouts import (
    EMPTY_CONFIG,
    EMPTY_MEDIA_TYPE,
    build_referrer_manifest,
    build_sig_manifest,
    referrer_descriptor,
    update_referrers_index,
)
from app.core.formats.simplesigning import SIMPLESIGNING_MEDIA_TYPE, build_payload
from app.core.ports import OCI_INDEX, OCI_MANIFEST, Clock, Descriptor, Registry, RegistryWriter
from app.core.references import DOCKER_HUB, ImageRef, Repository
from app.core.verification.verdicts import SignatureFormat
from app.signing.signingkey import SigningKey


class SigningRegistry(Registry, RegistryWriter, Protocol):
    """A registry client that can read and write (`app.registry.OciRegistry` is one)."""


@dataclass(frozen=True)
class SignOutcome:
    """What `sign_image` stored: where, in which layout, and whether anything new was written."""

    reference: ImageRef  # pinned to the signed digest
    digest: Digest
    format: SignatureFormat
    location: str  # "tag sha256-<hex>.sig" or "referrer sha256:<digest>"
    added: bool  # False when an identical signature was already there
    fallback_index: bool = False  # True when the `sha256-<hex>` referrers index was written


async def sign_image(
    registry: SigningRegistry,
    ref: ImageRef,
    key: SigningKey,
    *,
    bundle: bool = False,
    annotations: Mapping[str, str] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> SignOutcome:
    """Sign the manifest `ref` names (its digest: a tag is resolved first) and store the signature."""
    subject = await _subject(registry, ref)
    pinned = ref.with_digest(subject.digest)
    if bundle:
        return await _sign_bundle(registry, pinned, subject, key, annotations or {}, clock.now())
    return await _sign_legacy(registry, pinned, subject.digest, key, annotations or {})


def docker_reference(repository: Repository) -> str:
    """The `critical.identity.docker-reference` cosign writes: the repository, no tag or digest, with
    Docker Hub spelt `index.docker.io` as go-containerregistry's `Repository.Name()` does."""
    registry = "index.docker.io" if repository.registry == DOCKER_HUB else repository.registry
    return f"{registry}/{repository.path}"


async def _subject(registry: SigningRegistry, ref: ImageRef) -> Descriptor:
    """The signed manifest's descriptor with its real media type and size (a referrer's `subject`
    must carry both, and `resolve` takes a digest reference on trust without fetching it)."""
    resolved = await registry.resolve(ref)
    manifest = await registry.fetch_manifest(ref.repository, resolved.digest)
    if manifest is None:
        raise ImageNotFound(f"image {ref} not found in {ref.registry}")
    return Descriptor(manifest.media_type, manifest.digest, len(manifest.data))


async def _sign_legacy(
    registry: SigningRegistry, ref: ImageRef, digest: Digest, key: SigningKey, annotations: Mapping[str, str]
) -> SignOutcome:
    payload = build_payload(docker_reference(ref.repository), digest, annotations)
    signature = key.sign(payload)
    tag = digest.signature_tag
    existing = await registry.fetch_manifest(ref.repository, tag)
    update = build_sig_manifest(payload, signature, existing.data if existing else None, signer=key.public)
    if update.changed:
        # Blobs first, then the manifest that names them (OCI distribution spec, "Pushing manifests").
        await registry.push_blob(ref.repository, update.payload, SIMPLESIGNING_MEDIA_TYPE)
        await registry.push_blob(ref.repository, update.config, update.config_media_type)
        await registry.push_manifest(ref.repository, update.manifest, update.media_type, tag)
    return SignOutcome(ref, digest, SignatureFormat.COSIGN_V2_SIG_TAG, f"tag {tag}", update.changed)


async def _sign_bundle(
    registry: SigningRegistry,
    ref: ImageRef,
    subject: Descriptor,
    key: SigningKey,
    annotations: Mapping[str, str],
    now: datetime,
) -> SignOutcome:
    statement = build_statement(subject.digest, annotations=annotations)
    # DSSE signs PAE(payloadType, payload); sigstore pairs P-384/P-521 with SHA-384/SHA-512.
    signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement), curve_hash=True)
    envelope = Envelope(payload_type=IN_TOTO_PAYLOAD_TYPE, payload=statement, signature=signature)
    bundle = build_bundle(envelope, key.public.hint)  # no tlog entries: nothing went to Rekor
    await registry.push_blob(ref.repository, EMPTY_CONFIG, EMPTY_MEDIA_TYPE)
    await registry.push_blob(ref.repository, bundle, BUNDLE_V03_MEDIA_TYPE)
    manifest = build_referrer_manifest(bundle, subject, now)
    referrer = await registry.push_manifest(ref.repository, manifest, OCI_MANIFEST, None)
    fallback = not await registry.supports_referrers_api(ref.repository, subject.digest)
    if fallback:
        # go-containerregistry's fallback: read the index at `sha256-<hex>`, add ours, PUT it back.
        index_tag = subject.digest.tag_prefix
        existing = await registry.fetch_manifest(ref.repository, index_tag)
        index = update_referrers_index(existing.data if existing else None, referrer_descriptor(manifest))
        await registry.push_manifest(ref.repository, index, OCI_INDEX, index_tag)
    return SignOutcome(
        ref, subject.digest, SignatureFormat.COSIGN_V3_BUNDLE, f"referrer {referrer}", True, fallback
    )
