"""Sigstore bundles (v0.1 to v0.3) parsed into frozen data; built the way cosign v3 writes them.

Shape: sigstore `protobuf-specs` `sigstore_bundle.proto`, JSON in protojson camelCase
(docs/formats.md#bundle).
- `mediaType`: `application/vnd.dev.sigstore.bundle.v0.3+json` or the older
  `application/vnd.dev.sigstore.bundle+json;version=0.1|0.2|0.3`.
- `verificationMaterial`: one of `publicKey.hint` (an opaque label), `certificate.rawBytes` (v0.3 leaf) or
  `x509CertificateChain.certificates[].rawBytes` (v0.1 and v0.2 only: refused in v0.3); certificates are kept as DER bytes for the keyless
  work to come. `tlogEntries` and RFC 3161 timestamps are kept as data: nothing here verifies them.
- content: `dsseEnvelope` (cosign image signatures and attestations) or `messageSignature` (blobs).
- protobuf-specs rule: when `publicKey.hint` is set and the DSSE signature carries a `keyid`, they agree.

Parsing only: no signature, certificate or transparency-log checks, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import SignatureFormatError
from app.core.formats.dsse import Envelope, decode_base64, parse_envelope
from app.core.strictjson import parse_object

BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
BUNDLE_V03_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_MEDIA_TYPE = re.compile(
    r"^application/vnd\.dev\.sigstore\.bundle(?:\.v(?P<a>\d+)\.(?P<b>\d+)\+json"
    r"|\+json;\s*version=(?P<c>\d+)\.(?P<d>\d+))$",
    re.ASCII,
)
SUPPORTED_VERSIONS = ((0, 1), (0, 2), (0, 3))


@dataclass(frozen=True)
class MessageSignature:
    """A signature over an artifact's digest (`messageSignature`): signs a blob, never an image."""

    algorithm: str  # e.g. "SHA2_256"
    digest: bytes
    signature: bytes


@dataclass(frozen=True)
class TlogEntry:
    """One transparency log entry, kept as data (Rekor checks are not done here)."""

    log_index: int
    log_id: str  # lower-case hex of `logId.keyId`
    kind: str
    version: str
    integrated_time: int
    canonicalized_body: bytes
    signed_entry_timestamp: bytes | None  # the SET (`inclusionPromise`), Rekor v1 only
    inclusion_proof: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class Bundle:
    """A parsed sigstore bundle."""

    media_type: str
    version: tuple[int, int]
    public_key_hint: str | None
    certificates: tuple[bytes, ...]  # DER, leaf first
    tlog_entries: tuple[TlogEntry, ...]
    rfc3161_timestamps: tuple[bytes, ...]
    content: Envelope | MessageSignature


def bundle_version(media_type: str) -> tuple[int, int] | None:
    """(major, minor) of a bundle media type, or None when it is not a bundle media type."""
    match = _MEDIA_TYPE.match(media_type)
    if match is None:
        return None
    major, minor = (
        (match.group("a"), match.group("b")) if match.group("a") else (match.group("c"), match.group("d"))
    )
    return int(major), int(minor)


def parse_bundle(data: bytes) -> Bundle:
    """Parse bundle JSON bytes; raise `SignatureFormatError` saying what is wrong."""
    document = parse_object(data, "bundle")
    media_type = document.get("mediaType")
    version = bundle_version(media_type) if isinstance(media_type, str) else None
    if version is None or version not in SUPPORTED_VERSIONS:
        raise SignatureFormatError(f"unsupported bundle media type {str(media_type)[:100]!r}")
    assert isinstance(media_type, str)
    material = document.get("verificationMaterial")
    if not isinstance(material, dict):
        raise SignatureFormatError("bundle has no verificationMaterial")
    hint, certificates = _key_material(material, version)
    content = _content(document)
    if hint and isinstance(content, Envelope) and content.keyid and content.keyid != hint:
        raise SignatureFormatError("bundle publicKey.hint does not match the DSSE signature keyid")
    return Bundle(
        media_type=media_type,
        version=version,
        public_key_hint=hint,
        certificates=certificates,
        tlog_entries=tuple(_tlog_entry(e) for e in _list(material.get("tlogEntries"), "tlogEntries")),
        rfc3161_timestamps=_timestamps(material.get("timestampVerificationData")),
        content=content,
    )


def build_bundle(envelope: Envelope, hint: str, tlog_entries: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """A v0.3 bundle as cosign v3 `sign --key` writes it (docs/formats.md#bundle): key hint, optional tlog
    entries (as protojson objects), the DSSE envelope. Compact JSON."""
    material: dict[str, Any] = {"publicKey": {"hint": hint}}
    if tlog_entries:
        material["tlogEntries"] = [dict(e) for e in tlog_entries]
    document = {
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": envelope.to_json(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _key_material(
    material: Mapping[str, Any], version: tuple[int, int]
) -> tuple[str | None, tuple[bytes, ...]]:
    present = [k for k in ("publicKey", "certificate", "x509CertificateChain") if k in material]
    if len(present) != 1:
        raise SignatureFormatError(
            "bundle verificationMaterial needs exactly one of publicKey or certificate(s)"
        )
    if present[0] == "x509CertificateChain" and version >= (0, 3):
        # protobuf-specs: v0.3 bundles carry the leaf alone (`certificate`); sigstore-go's
        # `bundle.validate` refuses a chain in them.
        raise SignatureFormatError("bundle v0.3 must carry its leaf as certificate, not x509CertificateChain")
    value = material[present[0]]
    if not isinstance(value, dict):
        raise SignatureFormatError(f"bundle verificationMaterial.{present[0]} is not an object")
    if present[0] == "publicKey":
        hint = value.get("hint", "")
        if not isinstance(hint, str):
            raise SignatureFormatError("bundle publicKey.hint is not a string")
        return hint or None, ()
    if present[0] == "certificate":
        return None, (decode_base64(value.get("rawBytes"), "bundle certificate"),)
    chain = _list(value.get("certificates"), "x509CertificateChain.certificates")
    if not chain or not all(isinstance(c, dict) for c in chain):
        raise SignatureFormatError("bundle x509CertificateChain has no certificates")
    return None, tuple(decode_base64(c.get("rawBytes"), "bundle certificate") for c in chain)


def _content(document: Mapping[str, Any]) -> Envelope | MessageSignature:
    has_dsse, has_message = "dsseEnvelope" in document, "messageSignature" in document
    if has_dsse == has_message:
        raise SignatureFormatError("bundle needs exactly one of dsseEnvelope or messageSignature")
    if has_dsse:
        return parse_envelope(document["dsseEnvelope"])
    raw = document["messageSignature"]
    if not isinstance(raw, dict):
        raise SignatureFormatError("bundle messageSignature is not an object")
    digest = raw.get("messageDigest") or {}
    if not isinstance(digest, dict):
        raise SignatureFormatError("bundle messageSignature.messageDigest is not an object")
    algorithm = digest.get("algorithm", "")
    return MessageSignature(
        algorithm=algorithm if isinstance(algorithm, str) else "",
        digest=decode_base64(digest.get("digest", ""), "bundle message digest"),
        signature=decode_base64(raw.get("signature"), "bundle message signature"),
    )


def _tlog_entry(raw: object) -> TlogEntry:
    if not isinstance(raw, dict):
        raise SignatureFormatError("bundle tlog entry is not an object")
    log_id, kind_version = _mapping(raw.get("logId")), _mapping(raw.get("kindVersion"))
    promise = raw.get("inclusionPromise")
    proof = raw.get("inclusionProof")
    return TlogEntry(
        log_index=_int(raw.get("logIndex", 0), "tlog logIndex"),
        log_id=decode_base64(log_id.get("keyId", ""), "tlog logId").hex(),
        kind=str(kind_version.get("kind", "")),
        version=str(kind_version.get("version", "")),
        integrated_time=_int(raw.get("integratedTime", 0), "tlog integratedTime"),
        canonicalized_body=decode_base64(raw.get("canonicalizedBody", ""), "tlog canonicalizedBody"),
        signed_entry_timestamp=(
            decode_base64(promise.get("signedEntryTimestamp"), "tlog signedEntryTimestamp")
            if isinstance(promise, dict)
            else None
        ),
        inclusion_proof=proof if isinstance(proof, dict) else None,
    )


def _timestamps(raw: object) -> tuple[bytes, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise SignatureFormatError("bundle timestampVerificationData is not an object")
    entries = _list(raw.get("rfc3161Timestamps"), "rfc3161Timestamps")
    if not all(isinstance(e, dict) for e in entries):
        raise SignatureFormatError("bundle RFC 3161 timestamp is not an object")
    return tuple(decode_base64(e.get("signedTimestamp"), "bundle RFC 3161 timestamp") for e in entries)


def _mapping(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _list(raw: object, what: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SignatureFormatError(f"bundle {what} is not a list")
    return raw


def _int(raw: object, what: str) -> int:
    # protojson writes int64 as a decimal string; accept a JSON integer too.
    if isinstance(raw, bool):
        raise SignatureFormatError(f"bundle {what} is not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():  # not '²', which int() refuses
        return int(raw)
    raise SignatureFormatError(f"bundle {what} is not an integer")
