"""Read the descriptors of an OCI image index (a referrers API answer or a referrers fallback-tag index).

OCI image spec `image-index.md`: `{"schemaVersion": 2, "mediaType": …index…, "manifests": [descriptor…]}`;
a descriptor has `mediaType`, `digest`, `size`, optional `artifactType` and `annotations`. A malformed
index raises `RegistryProtocolError`; a document that is simply not an index is reported as such
(`None`) so the caller can fall back. No I/O here.
"""

from __future__ import annotations

from app.core import strictjson
from app.core.digests import Digest
from app.core.errors import InvalidDigest, RegistryProtocolError
from app.core.ports import OCI_INDEX, Descriptor


def document_media_type(data: bytes, declared: str) -> str:
    """The media type of a manifest: the served Content-Type, or the document's own `mediaType`."""
    if declared and declared not in ("application/json", "application/octet-stream", "text/plain"):
        return declared
    try:
        document = strictjson.loads(data)
    except ValueError:
        return declared
    value = document.get("mediaType") if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else declared


def index_descriptors(data: bytes, declared_type: str, where: str) -> list[Descriptor] | None:
    """The `manifests` of an OCI index, or None when `data` is not an OCI index at all."""
    if document_media_type(data, declared_type) != OCI_INDEX:
        return None
    try:
        document = strictjson.loads(data)
    except ValueError as exc:
        raise RegistryProtocolError(f"{where} is not JSON") from exc
    manifests = document.get("manifests") if isinstance(document, dict) else None
    if not isinstance(manifests, list):
        raise RegistryProtocolError(f"{where} has no 'manifests' list")
    return [_descriptor(entry, f"{where} manifests[{i}]") for i, entry in enumerate(manifests)]


def _descriptor(entry: object, where: str) -> Descriptor:
    if not isinstance(entry, dict):
        raise RegistryProtocolError(f"{where} is not an object")
    media_type, digest, size = entry.get("mediaType"), entry.get("digest"), entry.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise RegistryProtocolError(f"{where} lacks mediaType or digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryProtocolError(f"{where} has no valid size")
    try:
        parsed = Digest.parse(digest)
    except InvalidDigest as exc:
        raise RegistryProtocolError(f"{where}: {exc.reason}") from exc
    artifact_type = entry.get("artifactType")
    annotations = entry.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise RegistryProtocolError(f"{where} has annotations that are not strings")
    return Descriptor(
        media_type=media_type,
        digest=parsed,
        size=size,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        annotations=dict(annotations),
    )
