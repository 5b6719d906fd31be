"""Read the descriptors of an OCI image index (a referrers API answer or a referrers fallback-tag index).

OCI image spec `image-index.md`: `{"schemaVersion": 2, "mediaType": …index…, "manifests": [descriptor…]}`;
a descriptor has `mediaType`, `digest`, `size`, optional `artifactType` and `annotations` (parsed by the
core's `layouts.parse_index`). A malformed index raises `RegistryProtocolError`; a document that is simply
not an index is reported as such (`None`) so the caller can fall back. No I/O here.
"""

from __future__ import annotations

from app.core import strictjson
from app.core.errors import RegistryProtocolError, SignatureFormatError
from app.core.formats.layouts import parse_index
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
        return list(parse_index(data))
    except SignatureFormatError as exc:  # the core's index parser, shared with `sign`
        raise RegistryProtocolError(f"{where}: {exc.reason}", f"{where}: {exc.detail}") from exc
