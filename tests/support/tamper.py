"""Tamper with cosign signatures stored in a test registry, as someone with push access to it could.

Each helper reads what `sigwebhook sign` stored (over plain HTTP with `RawPusher`, not sigwebhook's
registry adapter), changes exactly one thing and writes it back, or writes a hand-built signature object.
The objects are built with the core's own builders (`app.core.formats.layouts`, `dsse`, `bundles`), so apart from
the one deliberate change they are byte for byte what the signer writes. Layouts: cosign SIGNATURE_SPEC
(`sha256-<hex>.sig`), OCI distribution spec v1.1 "Referrers Tag Schema" (`sha256-<hex>` index; the
Debian registry, distribution 2.8, has no referrers API); docs/formats.md#sig-tag-manifest and #v3-bundles.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from app.core.digests import Digest
from app.core.formats.bundles import BUNDLE_V03_MEDIA_TYPE, build_bundle
from app.core.formats.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, build_statement, pae
from app.core.formats.layouts import (
    EMPTY_CONFIG,
    SIGNATURE_ANNOTATION,
    build_referrer_manifest,
    build_sig_manifest,
    referrer_descriptor,
    update_referrers_index,
)
from app.core.ports import MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST, Descriptor
from app.signing.signingkey import SigningKey
from tests.support.pushing import RawPusher

ACCEPT = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}


def get_manifest(raw: RawPusher, repo: str, reference: str | Digest) -> bytes:
    """The manifest bytes at `reference` (a tag or a digest); fails loudly when there is none."""
    answer = raw.get(f"/v2/{repo}/manifests/{reference}", repo, headers=ACCEPT)
    if answer.status_code != 200:
        raise RuntimeError(f"no manifest {repo}:{reference} to tamper with ({answer.status_code})")
    return answer.content


def get_blob(raw: RawPusher, repo: str, digest: str | Digest) -> bytes:
    """The blob `digest` of `repo` (the test registry serves blobs itself, no redirect)."""
    answer = raw.get(f"/v2/{repo}/blobs/{digest}", repo)
    if answer.status_code != 200:
        raise RuntimeError(f"no blob {repo}@{digest} to tamper with ({answer.status_code})")
    return answer.content


def image_descriptor(raw: RawPusher, repo: str, digest: Digest) -> Descriptor:
    """The descriptor a referrer's `subject` names for the image `digest` (media type and size)."""
    data = get_manifest(raw, repo, digest)
    return Descriptor(str(json.loads(data).get("mediaType") or OCI_MANIFEST), digest, len(data))


# --- cosign v2: the `.sig` manifest ------------------------------------------------------------------


def copy_sig_manifest(raw: RawPusher, repo: str, source: Digest, target: Digest) -> None:
    """Put the `.sig` manifest of image `source` at the `.sig` tag of image `target`, unchanged."""
    manifest = get_manifest(raw, repo, source.signature_tag)
    raw.put_manifest(repo, target.signature_tag, manifest, _media_type(manifest))


def replace_sig_payload(raw: RawPusher, repo: str, image: Digest, payload: bytes) -> None:
    """Swap the payload blob of the first `.sig` layer for `payload`, keeping its signature annotation."""
    manifest = json.loads(get_manifest(raw, repo, image.signature_tag))
    layer = manifest["layers"][0]
    layer["digest"], layer["size"] = str(raw.put_blob(repo, payload)), len(payload)
    _put_json(raw, repo, image.signature_tag, manifest)


def set_sig_annotation(raw: RawPusher, repo: str, image: Digest, value: str) -> None:
    """Overwrite the signature annotation of the first `.sig` layer with `value`."""
    manifest = json.loads(get_manifest(raw, repo, image.signature_tag))
    manifest["layers"][0]["annotations"][SIGNATURE_ANNOTATION] = value
    _put_json(raw, repo, image.signature_tag, manifest)


def sig_payload(raw: RawPusher, repo: str, image: Digest) -> bytes:
    """The payload blob of the first `.sig` layer of image `image`."""
    manifest = json.loads(get_manifest(raw, repo, image.signature_tag))
    return get_blob(raw, repo, manifest["layers"][0]["digest"])


def push_sig_layer(raw: RawPusher, repo: str, image: Digest, payload: bytes, key: SigningKey) -> None:
    """A `.sig` manifest for `image` with one layer: `payload` (whatever it is) signed by `key`."""
    update = build_sig_manifest(payload, key.sign(payload))
    raw.put_blob(repo, update.payload)
    raw.put_blob(repo, update.config)
    raw.put_manifest(repo, image.signature_tag, update.manifest, update.media_type)


# --- cosign v3: bundle referrers and the fallback index ----------------------------------------------


def referrer_digests(raw: RawPusher, repo: str, image: Digest) -> list[Digest]:
    """The referrers listed in the `sha256-<hex>` fallback index of `image`."""
    index = json.loads(get_manifest(raw, repo, image.tag_prefix))
    return [Digest.parse(entry["digest"]) for entry in index["manifests"]]


def copy_referrer(raw: RawPusher, repo: str, source: Digest, target: Digest) -> Digest:
    """Copy the first bundle referrer of `source` onto `target`: the same bundle, the manifest's `subject`
    rewritten to `target`, listed in `target`'s fallback index. Returns the new referrer's digest."""
    manifest = json.loads(get_manifest(raw, repo, referrer_digests(raw, repo, source)[0]))
    subject = image_descriptor(raw, repo, target)
    manifest["subject"] = {"mediaType": subject.media_type, "digest": str(target), "size": subject.size}
    return _put_referrer(raw, repo, target, manifest, keep_others=True)


def replace_bundle_statement(raw: RawPusher, repo: str, image: Digest, statement: bytes) -> Digest:
    """Re-encode the DSSE payload of `image`'s first bundle as `statement`, keeping its signature; the
    tampered referrer replaces the original in the fallback index. Returns the new referrer's digest."""
    manifest = json.loads(get_manifest(raw, repo, referrer_digests(raw, repo, image)[0]))
    bundle = json.loads(get_blob(raw, repo, manifest["layers"][0]["digest"]))
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(statement).decode()
    data = json.dumps(bundle, separators=(",", ":")).encode()
    layer = manifest["layers"][0]
    layer["digest"], layer["size"] = str(raw.put_blob(repo, data)), len(data)
    return _put_referrer(raw, repo, image, manifest, keep_others=False)


def bundle_statement(raw: RawPusher, repo: str, image: Digest) -> dict[str, Any]:
    """The in-toto statement signed in `image`'s first bundle, decoded."""
    manifest = json.loads(get_manifest(raw, repo, referrer_digests(raw, repo, image)[0]))
    bundle = json.loads(get_blob(raw, repo, manifest["layers"][0]["digest"]))
    statement: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return statement


def signed_bundle(key: SigningKey, image: Digest, predicate_type: str) -> bytes:
    """A v0.3 bundle, correctly signed by `key`, of an in-toto statement about `image` with
    `predicate_type`: what cosign v3 writes for `sign` (its sign predicate) or `attest` (any other)."""
    statement = build_statement(image, predicate_type=predicate_type)
    envelope = Envelope(IN_TOTO_PAYLOAD_TYPE, statement, key.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement)))
    return build_bundle(envelope, key.public.hint)


def push_bundle_referrer(
    raw: RawPusher, repo: str, image: Digest, bundle: bytes, predicate_type: str
) -> Digest:
    """Attach `bundle` (any bytes) to `image` as a referrer listed in its fallback index."""
    raw.put_blob(repo, EMPTY_CONFIG)
    raw.put_blob(repo, bundle)
    subject = image_descriptor(raw, repo, image)
    manifest = build_referrer_manifest(bundle, subject, datetime.now(UTC), predicate_type=predicate_type)
    return _put_referrer(raw, repo, image, json.loads(manifest), keep_others=True)


# --- helpers -----------------------------------------------------------------------------------------


def _put_referrer(
    raw: RawPusher, repo: str, image: Digest, manifest: dict[str, Any], *, keep_others: bool
) -> Digest:
    data = json.dumps(manifest, separators=(",", ":")).encode()
    digest = raw.put_manifest(repo, str(Digest.of(data)), data, OCI_MANIFEST)
    existing = None
    if keep_others:
        answer = raw.get(f"/v2/{repo}/manifests/{image.tag_prefix}", repo, headers=ACCEPT)
        existing = answer.content if answer.status_code == 200 else None
    index = update_referrers_index(existing, referrer_descriptor(data, BUNDLE_V03_MEDIA_TYPE))
    raw.put_manifest(repo, image.tag_prefix, index, OCI_INDEX)
    return digest


def _put_json(raw: RawPusher, repo: str, reference: str, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, separators=(",", ":")).encode()
    raw.put_manifest(repo, reference, data, _media_type(data))


def _media_type(manifest: bytes) -> str:
    return str(json.loads(manifest).get("mediaType") or OCI_MANIFEST)
