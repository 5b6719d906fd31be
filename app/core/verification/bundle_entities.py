"""A sigstore bundle (v0.1–v0.3) as a `SignedEntity`, with the bundle-version rules of protobuf-specs.

Rules (sigstore-go `bundle.validate`, sigstore-python `models.py`, conformance cases):
- v0.1: every tlog entry carries an inclusion promise (SET); v0.2 and later: an inclusion proof with
  its checkpoint (`intoto-missing-inclusion-proof_fail`);
- only the leaf of an `x509CertificateChain` is used: intermediates and roots come from the trusted
  root, and a chain that ships a self-signed root is refused (`bundle-with-root-cert_fail`);
- a `messageSignature`'s `messageDigest` is only a hint, but must be the artifact's digest
  (`message-digest-mismatch_fail`); the artifact is what the caller names.
Pure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from app.core.digests import PROTOBUF_HASH_NAMES
from app.core.errors import NotVerified, SignatureFormatError
from app.core.formats.bundles import Bundle, MessageSignature, TlogEntry
from app.core.formats.dsse import Envelope
from app.core.transparency.entries import LogEntry
from app.core.transparency.merkle import InclusionProof
from app.core.trust.certificates import issued_by
from app.core.verification.entities import MAX_LOG_ENTRIES, MAX_TIMESTAMPS, SignedEntity, SignedMessage


def entity_from_bundle(bundle: Bundle, artifact: SignedMessage | None = None) -> SignedEntity:
    """The bundle as a `SignedEntity`. A `messageSignature` needs the `artifact` it should sign;
    `SignatureFormatError` for a malformed bundle, `NotVerified` when the digest hint disagrees."""
    if len(bundle.tlog_entries) > MAX_LOG_ENTRIES or len(bundle.rfc3161_timestamps) > MAX_TIMESTAMPS:
        raise SignatureFormatError("bundle carries too many log entries or timestamps")
    certificate = _leaf(bundle.certificates)
    content: SignedMessage | Envelope
    entries = tuple(_log_entry(e, bundle.version) for e in bundle.tlog_entries)
    if isinstance(bundle.content, MessageSignature):
        content, signature = _message(bundle.content, artifact), bundle.content.signature
    else:
        content, signature = bundle.content, bundle.content.signature
    return SignedEntity(
        content=content,
        signature=signature,
        certificate=certificate,
        log_entries=entries,
        timestamps=bundle.rfc3161_timestamps,
    )


def _message(signed: MessageSignature, artifact: SignedMessage | None) -> SignedMessage:
    if artifact is None:
        raise SignatureFormatError("bundle signs a blob (messageSignature), but no artifact was given")
    if signed.digest and (
        PROTOBUF_HASH_NAMES.get(signed.algorithm) != artifact.algorithm or signed.digest != artifact.digest
    ):
        raise NotVerified("material", "bundle's message digest is not the artifact's digest")
    return artifact


def _leaf(certificates: tuple[bytes, ...]) -> x509.Certificate | None:
    if not certificates:
        return None
    try:
        parsed = [x509.load_der_x509_certificate(der) for der in certificates]
    except ValueError as exc:
        raise SignatureFormatError("bundle certificate is not a DER certificate") from exc
    if any(issued_by(c, c) for c in parsed[1:]):  # a self-signed root
        raise SignatureFormatError("bundle certificate chain contains a root certificate")
    return parsed[0]


def _log_entry(raw: TlogEntry, version: tuple[int, int]) -> LogEntry:
    if raw.log_index < 0 or raw.integrated_time < 0:
        raise SignatureFormatError("bundle tlog entry has a negative index or time")
    if not raw.log_id or not raw.kind or not raw.version or not raw.canonicalized_body:
        raise SignatureFormatError("bundle tlog entry lacks its log ID, kind/version or body")
    proof, checkpoint = _proof(raw.inclusion_proof) if raw.inclusion_proof is not None else (None, None)
    if version == (0, 1) and raw.signed_entry_timestamp is None:
        raise SignatureFormatError("bundle v0.1 tlog entry has no inclusion promise (SET)")
    if version >= (0, 2) and proof is None:
        raise SignatureFormatError("bundle tlog entry has no inclusion proof (required since bundle v0.2)")
    return LogEntry(
        log_id=bytes.fromhex(raw.log_id),
        log_index=raw.log_index,
        body=raw.canonicalized_body,
        integrated_time=raw.integrated_time,
        kind=raw.kind,
        version=raw.version,
        signed_entry_timestamp=raw.signed_entry_timestamp,
        inclusion_proof=proof,
        checkpoint=checkpoint,
    )


def _proof(raw: Mapping[str, Any]) -> tuple[InclusionProof, str]:
    checkpoint = raw.get("checkpoint")
    envelope = checkpoint.get("envelope") if isinstance(checkpoint, dict) else None
    hashes = raw.get("hashes", [])
    if not isinstance(envelope, str) or not envelope or not isinstance(hashes, list):
        raise SignatureFormatError("bundle inclusion proof lacks its checkpoint or hashes")
    proof = InclusionProof(
        index=_count(raw.get("logIndex", "0"), "inclusion proof logIndex"),
        tree_size=_count(raw.get("treeSize"), "inclusion proof treeSize"),
        root_hash=_b64(raw.get("rootHash"), "inclusion proof rootHash"),
        hashes=tuple(_b64(h, "inclusion proof hash") for h in hashes),
    )
    return proof, envelope


def _count(raw: object, what: str) -> int:
    # protojson writes int64 as a decimal string; accept a JSON integer too.
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    raise SignatureFormatError(f"bundle {what} is not a non-negative integer")


def _b64(raw: object, what: str) -> bytes:
    if not isinstance(raw, str):
        raise SignatureFormatError(f"bundle {what} is not base64")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureFormatError(f"bundle {what} is not base64") from exc
