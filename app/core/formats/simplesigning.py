"""Cosign v2 simple-signing payloads: parse, build and check their claims.

The payload format is containers/image's `containers-signature(5)` "simple signing" JSON with cosign's
conventions (cosign `specs/SIGNATURE_SPEC.md` "Simple Signing"; docs/formats.md#simple-signing):

    {"critical":{"identity":{"docker-reference":REPO},"image":{"docker-manifest-digest":DIGEST},
                 "type":"cosign container image signature"},"optional":null|{...}}

The signature covers the raw payload blob bytes, never a re-serialisation, so parsing here only serves
the claims check that follows a successful signature check. No I/O and no cryptography here.

Claims policy (docs/formats.md#sig-tag-verify, step 3): `docker-manifest-digest` must equal the
verified digest exactly, as cosign's claim verifier demands. We are stricter than cosign on
`critical.type`: cosign does not look at it, containers/image requires `cosign container image
signature`, and so do we, so that a simple-signing document meant for another purpose can never pass as
an image signature. Every image signer we know of (cosign, skopeo) writes exactly that type.
`docker-reference` is ignored, as cosign ignores it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from app.core.digests import Digest
from app.core.errors import SignatureFormatError, shown
from app.core.strictjson import parse_object

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"


@dataclass(frozen=True)
class SimpleSigningPayload:
    """The fields of a simple-signing payload that verification reads."""

    docker_reference: str
    manifest_digest: str  # as written: compared as a string, exactly as cosign compares it
    type: str
    optional: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)

    def claims_problem(self, digest: Digest) -> str | None:
        """Why this payload does not claim the image `digest` (None when it does)."""
        if self.type != COSIGN_SIGNATURE_TYPE:
            return f"payload type {_quote(self.type)} is not {COSIGN_SIGNATURE_TYPE!r}"
        if self.manifest_digest != str(digest):
            return f"payload claims digest {shown(self.manifest_digest)} but the image is {digest}"
        return None


def parse_payload(data: bytes) -> SimpleSigningPayload:
    """Parse payload bytes; raise `SignatureFormatError` saying what is wrong with them."""
    document = parse_object(data, "payload")
    critical = _object(document, "critical", "")
    identity = _object(critical, "identity", "critical")
    image = _object(critical, "image", "critical")
    optional = document.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise SignatureFormatError("payload field optional is neither null nor an object")
    return SimpleSigningPayload(
        docker_reference=_string(identity, "docker-reference", "critical.identity"),
        manifest_digest=_string(image, "docker-manifest-digest", "critical.image"),
        type=_string(critical, "type", "critical"),
        optional=MappingProxyType(dict(optional)) if optional is not None else None,
    )


def build_payload(
    docker_reference: str, digest: Digest, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The payload cosign writes for `cosign sign [-a k=v …]`: compact JSON, keys in cosign's order,
    `optional` null without annotations (cosign `pkg/signature/payload`, sigstore `payload.Cosign`)."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": str(digest)},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": dict(annotations) if annotations else None,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def annotations_problem(payload: SimpleSigningPayload, required: Mapping[str, str]) -> str | None:
    """Why `payload.optional` lacks the `required` annotations (cosign `-a k=v` at verify time)."""
    present = payload.optional or {}
    for name, value in required.items():
        if present.get(name) != value:
            return f"payload annotation {name!r} is not {value!r}"
    return None


def _object(parent: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise SignatureFormatError(
            f"payload field {where + '.' if where else ''}{name} is missing or not an object"
        )
    return value


def _string(parent: Mapping[str, Any], name: str, where: str) -> str:
    value = parent.get(name)
    if not isinstance(value, str):
        raise SignatureFormatError(f"payload field {where}.{name} is missing or not a string")
    return value


def _quote(text: str, limit: int = 100) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
