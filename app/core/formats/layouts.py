"""The registry objects cosign stores signatures in: pure parsers (for `verify`) and builders (for `sign`).

- cosign v2: the image manifest at tag `sha256-<hex>.sig`, one simple-signing layer per signature, the
  base64 signature in the layer annotation `dev.cosignproject.cosign/signature` (cosign SIGNATURE_SPEC,
  docs/formats.md#sig-tag-manifest). Its config is go-containerregistry's empty image config with
  `rootfs.diff_ids`.
- cosign v3: an OCI 1.1 artifact manifest pushed by digest whose one layer is a sigstore bundle and whose
  `subject` is the image (docs/formats.md#referrer-manifest), plus the referrers tag-schema fallback
  index at tag `sha256-<hex>` (OCI distribution spec v1.1, "Referrers Tag Schema").

Bytes in, bytes out: no I/O. Parsers raise `SignatureFormatError`; builders are deterministic.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.digests import Digest
from app.core.errors import InvalidDigest, SignatureFormatError
from app.core.formats.bundles import BUNDLE_MEDIA_TYPE_PREFIX, BUNDLE_V03_MEDIA_TYPE
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE, decode_base64
from app.core.formats.simplesigning import SIMPLESIGNING_MEDIA_TYPE
from app.core.ports import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor
from app.core.strictjson import parse_object
from app.core.trust.keys import TrustedKey

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
REKOR_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"  # OCI image spec "Guidance for an Empty Descriptor"; sha256:44136fa3…
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # how Go serialises an unset time.Time


@dataclass(frozen=True)
class SignatureLayer:
    """One simple-signing layer of a `.sig` manifest: where its payload is and its annotations."""

    index: int
    descriptor: Descriptor

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.descriptor.annotations

    def signature(self) -> bytes:
        """The decoded signature annotation; `SignatureFormatError` when missing or not base64."""
        text = self.annotations.get(SIGNATURE_ANNOTATION)
        if not text:
            raise SignatureFormatError(f"layer has no {SIGNATURE_ANNOTATION} annotation")
        return decode_base64(text, "signature annotation")


@dataclass(frozen=True)
class BrokenLayer:
    """A `.sig` manifest layer too malformed to be read (its reason is safe to show)."""

    index: int
    reason: str


@dataclass(frozen=True)
class SigManifestUpdate:
    """What `sign` pushes for a v2 signature: config and payload blobs, then the manifest at the tag."""

    manifest: bytes
    media_type: str
    config: bytes
    config_media_type: str
    payload: bytes
    changed: bool  # False when an identical signature was already there (nothing to push)


# --- parsers --------------------------------------------------------------------------------------


def parse_descriptor(raw: object, where: str) -> Descriptor:
    """An OCI content descriptor from its JSON object."""
    if not isinstance(raw, dict):
        raise SignatureFormatError(f"{where} is not a descriptor object")
    media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise SignatureFormatError(f"{where} has no mediaType or digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise SignatureFormatError(f"{where} has no valid size")
    try:
        parsed = Digest.parse(digest)
    except InvalidDigest as exc:
        raise SignatureFormatError(f"{where}: {exc.reason}") from exc
    annotations = raw.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise SignatureFormatError(f"{where} has malformed annotations")
    artifact_type = raw.get("artifactType")
    return Descriptor(
        media_type=media_type,
        digest=parsed,
        size=size,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        annotations=dict(annotations),
    )


def parse_sig_manifest(data: bytes) -> tuple[SignatureLayer | BrokenLayer, ...]:
    """The simple-signing layers of a `.sig` manifest; other layers are not signatures and are left out
    (docs/formats.md#sig-tag-manifest). A layer that cannot be read becomes a `BrokenLayer`."""
    return tuple(parse_signature_layer(index, raw) for index, raw in sig_manifest_entries(data))


def sig_manifest_entries(data: bytes) -> tuple[tuple[int, object], ...]:
    """The simple-signing entries of a `.sig` manifest's `layers`, with their index, not yet parsed: cheap,
    so that a caller can refuse too many before paying for each (`parse_signature_layer`)."""
    layers = _json_object(data, "signature manifest").get("layers")
    if not isinstance(layers, list):
        raise SignatureFormatError("signature manifest has no layers list")
    return tuple(
        (index, raw)
        for index, raw in enumerate(layers)
        if not isinstance(raw, dict) or raw.get("mediaType") == SIMPLESIGNING_MEDIA_TYPE
    )


def parse_signature_layer(index: int, raw: object) -> SignatureLayer | BrokenLayer:
    """One entry of `sig_manifest_entries`, parsed."""
    try:
        return SignatureLayer(index, parse_descriptor(raw, f"layer {index}"))
    except SignatureFormatError as exc:
        return BrokenLayer(index, exc.reason)


def parse_referrer_manifest(data: bytes) -> Descriptor | None:
    """The bundle layer of a referrer manifest, or None when the manifest is not a sigstore bundle
    (cosign `GetBundles`: exactly one layer whose media type starts `application/vnd.dev.sigstore.bundle`)."""
    layers = _json_object(data, "referrer manifest").get("layers")
    if not isinstance(layers, list) or len(layers) != 1:
        return None
    layer = layers[0]
    if not isinstance(layer, dict) or not str(layer.get("mediaType", "")).startswith(
        BUNDLE_MEDIA_TYPE_PREFIX
    ):
        return None
    return parse_descriptor(layer, "bundle layer")


def parse_index(data: bytes) -> tuple[Descriptor, ...]:
    """The `manifests` of an OCI image index: a referrers API answer or a fallback-tag index."""
    manifests = _json_object(data, "index").get("manifests")
    if not isinstance(manifests, list):
        raise SignatureFormatError("index has no manifests list")
    return tuple(parse_descriptor(m, f"index entry {i}") for i, m in enumerate(manifests))


def is_bundle_artifact(artifact_type: str | None) -> bool:
    """Whether a referrer may be a sigstore bundle: a bundle `artifactType`, or none, or the empty config
    type (OCI: a manifest without `artifactType` is listed under its config's media type)."""
    untyped = artifact_type in (None, "application/vnd.oci.empty.v1+json")
    return untyped or str(artifact_type).startswith(BUNDLE_MEDIA_TYPE_PREFIX)


# --- builders -------------------------------------------------------------------------------------


def build_sig_manifest(
    payload: bytes,
    signature: bytes,
    existing: bytes | None = None,
    annotations: Mapping[str, str] | None = None,
    signer: TrustedKey | None = None,
    docker_media_types: bool = False,
) -> SigManifestUpdate:
    """The `.sig` manifest with one more signature layer. Existing layers are kept as they are. Like
    cosign's duplicate detector, nothing is added when a layer with the same payload already carries
    this signature, or (given `signer`) a signature by the same key."""
    manifest = _json_object(existing, "existing signature manifest") if existing is not None else {}
    layers = list(manifest.get("layers") or [])
    payload_digest = Digest.of(payload)
    if any(_is_duplicate(raw, payload, payload_digest, signature, signer) for raw in layers):
        return _sig_update(manifest, layers, payload, docker_media_types, changed=False)
    layer_annotations = {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(), **(annotations or {})}
    layers.append(
        {
            "mediaType": SIMPLESIGNING_MEDIA_TYPE,
            "size": len(payload),
            "digest": str(payload_digest),
            "annotations": layer_annotations,
        }
    )
    return _sig_update(manifest, layers, payload, docker_media_types, changed=True)


def build_referrer_manifest(
    bundle: bytes,
    subject: Descriptor,
    created: datetime,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    bundle_media_type: str = BUNDLE_V03_MEDIA_TYPE,
) -> bytes:
    """The OCI 1.1 manifest cosign v3 pushes by digest for a bundle (docs/formats.md#referrer-manifest)."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "artifactType": bundle_media_type,
            "size": len(EMPTY_CONFIG),
            "digest": str(Digest.of(EMPTY_CONFIG)),
        },
        "layers": [{"mediaType": bundle_media_type, "size": len(bundle), "digest": str(Digest.of(bundle))}],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate_type,
            "org.opencontainers.image.created": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "subject": {"mediaType": subject.media_type, "digest": str(subject.digest), "size": subject.size},
        "artifactType": bundle_media_type,
    }
    return _compact(document)


def update_referrers_index(existing: bytes | None, entry: Descriptor) -> bytes:
    """The fallback index at tag `sha256-<hex>` with `entry` added once, sorted by digest, as
    go-containerregistry's referrers fallback writes it (docs/formats.md#referrers-fallback)."""
    document = _json_object(existing, "existing referrers index") if existing is not None else {}
    manifests = [m for m in document.get("manifests") or [] if isinstance(m, dict)]
    if not any(m.get("digest") == str(entry.digest) for m in manifests):
        added: dict[str, Any] = {
            "mediaType": entry.media_type,
            "size": entry.size,
            "digest": str(entry.digest),
        }
        if entry.artifact_type:
            added["artifactType"] = entry.artifact_type
        manifests.append(added)
    manifests.sort(key=lambda m: str(m.get("digest", "")))
    return _compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})


def referrer_descriptor(manifest: bytes, artifact_type: str = BUNDLE_V03_MEDIA_TYPE) -> Descriptor:
    """The index entry for a referrer manifest built by `build_referrer_manifest`."""
    return Descriptor(OCI_MANIFEST, Digest.of(manifest), len(manifest), artifact_type)


# --- helpers --------------------------------------------------------------------------------------


def _is_duplicate(
    raw: object, payload: bytes, payload_digest: Digest, signature: bytes, signer: TrustedKey | None
) -> bool:
    if not isinstance(raw, dict) or raw.get("digest") != str(payload_digest):
        return False
    annotations = raw.get("annotations") or {}
    try:
        existing = decode_base64(annotations.get(SIGNATURE_ANNOTATION), "signature annotation")
    except SignatureFormatError:
        return False
    return existing == signature or (signer is not None and signer.verify(existing, payload))


def _sig_update(
    manifest: Mapping[str, Any], layers: list[Any], payload: bytes, docker: bool, changed: bool
) -> SigManifestUpdate:
    media_type = str(manifest.get("mediaType") or (DOCKER_MANIFEST if docker else OCI_MANIFEST))
    config_media_type = DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG
    diff_ids = [str(raw.get("digest")) for raw in layers if isinstance(raw, dict)]
    # go-containerregistry's empty image plus one appended layer per signature (cosign `mutate.Append`).
    config = _compact(
        {
            "architecture": "",
            "created": _GO_ZERO_TIME,
            "history": [{"created": _GO_ZERO_TIME} for _ in diff_ids],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        }
    )
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_media_type, "size": len(config), "digest": str(Digest.of(config))},
        "layers": layers,
    }
    return SigManifestUpdate(_compact(document), media_type, config, config_media_type, payload, changed)


def _json_object(data: bytes | None, what: str) -> dict[str, Any]:
    return parse_object(data or b"", what)


def _compact(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
