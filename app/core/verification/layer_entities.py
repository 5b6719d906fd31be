"""A cosign v2 `.sig` layer as a `SignedEntity`: what its annotations carry besides the signature.

The layer annotations (docs/formats.md#sig-tag-manifest, cosign `SIGNATURE_SPEC.md`):
- `dev.cosignproject.cosign/signature`: the signature over the payload blob's bytes as stored;
- `dev.sigstore.cosign/certificate`: the PEM signing certificate (keyless). The
  `dev.sigstore.cosign/chain` annotation is not used: intermediates and roots come from the trusted
  root only, as for bundles, so a chain shipped beside the signature can never add trust;
- `dev.sigstore.cosign/bundle`: the Rekor v1 answer (docs/formats.md#rekor-bundle-shape), one log entry
  with its SET and no inclusion proof; the body declares its own kind;
- `dev.sigstore.cosign/rfc3161timestamp`: `{"SignedRFC3161Timestamp": <base64 DER>}` over the
  signature bytes (cosign `VerifyRFC3161Timestamp`).
A malformed annotation makes the layer unusable (`SignatureFormatError`), never a crash. Pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from app.core.errors import SignatureFormatError
from app.core.formats.layouts import CERTIFICATE_ANNOTATION, REKOR_BUNDLE_ANNOTATION
from app.core.strictjson import parse_object
from app.core.transparency.entries import LogEntry
from app.core.verification.entities import SignedEntity, SignedMessage

TIMESTAMP_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp"


def entity_from_layer(annotations: Mapping[str, str], signature: bytes, payload: bytes) -> SignedEntity:
    """The layer's signature over `payload`, with the certificate, log entry and timestamp it carries."""
    certificate = annotations.get(CERTIFICATE_ANNOTATION)
    rekor = annotations.get(REKOR_BUNDLE_ANNOTATION)
    stamp = annotations.get(TIMESTAMP_ANNOTATION)
    return SignedEntity(
        content=SignedMessage("sha256", hashlib.sha256(payload).digest(), payload),
        signature=signature,
        certificate=_certificate(certificate) if certificate else None,
        log_entries=(rekor_bundle_entry(rekor),) if rekor else (),
        timestamps=(_timestamp(stamp),) if stamp else (),
    )


def rekor_bundle_entry(text: str) -> LogEntry:
    """The `dev.sigstore.cosign/bundle` annotation as a log entry (its SET still to be verified)."""
    document = parse_object(text, "Rekor bundle annotation")
    payload = document.get("Payload")
    if not isinstance(payload, dict):
        raise SignatureFormatError("Rekor bundle annotation has no Payload object")
    log_id = payload.get("logID")
    if not isinstance(log_id, str) or len(log_id) != 64:
        raise SignatureFormatError("Rekor bundle annotation logID is not a 64-digit hex log ID")
    try:
        log_id_bytes = bytes.fromhex(log_id)
    except ValueError as exc:
        raise SignatureFormatError("Rekor bundle annotation logID is not hex") from exc
    return LogEntry(
        log_id=log_id_bytes,
        log_index=_count(payload.get("logIndex"), "logIndex"),
        body=_canonical_base64(payload.get("body"), "Rekor bundle annotation body"),
        integrated_time=_count(payload.get("integratedTime"), "integratedTime"),
        signed_entry_timestamp=_canonical_base64(
            document.get("SignedEntryTimestamp"), "Rekor bundle annotation SignedEntryTimestamp"
        ),
    )


def _certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SignatureFormatError(f"{CERTIFICATE_ANNOTATION} annotation is not a PEM certificate") from exc


def _timestamp(text: str) -> bytes:
    document = parse_object(text, "RFC 3161 timestamp annotation")
    return _canonical_base64(document.get("SignedRFC3161Timestamp"), "RFC 3161 timestamp annotation")


def _canonical_base64(raw: Any, what: str) -> bytes:
    # Standard padded base64 only: the SET signs the body's base64 text, which is rebuilt from the
    # bytes, so another spelling of the same bytes must not reach the check as if it were the same.
    if not isinstance(raw, str) or not raw:
        raise SignatureFormatError(f"{what} is missing or not a string")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureFormatError(f"{what} is not base64") from exc
    if base64.b64encode(data).decode() != raw:
        raise SignatureFormatError(f"{what} is not canonical base64")
    return data


def _count(raw: Any, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise SignatureFormatError(f"Rekor bundle annotation {what} is not a non-negative integer")
    return raw
