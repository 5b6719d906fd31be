"""Signed certificate timestamps (SCTs) embedded in a Fulcio certificate, verified offline (RFC 6962 §3.2).

An SCT is a CT log's promise to publish the certificate. For an embedded SCT the log signed the
*precertificate*: the leaf's TBSCertificate without the SCT list extension (`tbs_precertificate_bytes`),
with the SHA-256 of the issuing CA's SubjectPublicKeyInfo. The signed structure (RFC 6962 §3.2
`digitally-signed struct`, precert entry):

    version (1 byte, 0) ‖ signature_type (1, 0 = certificate_timestamp) ‖ timestamp (8, ms) ‖
    entry_type (2, 1 = precert_entry) ‖ issuer_key_hash (32) ‖ TBS length (3) ‖ TBS ‖
    extensions length (2) ‖ extensions

Extensions are opaque and included as they are (Static CT logs put a leaf index there). The issuing
CA is the one above the leaf, unless that one only signs precertificates (EKU 1.3.6.1.4.1.11129.2.4.4):
then the CA above it. The log is chosen by the SCT's log ID through `log_for`, which answers only for
logs trusted at the SCT's time. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.certificate_transparency import LogEntryType, Version
from cryptography.x509.oid import ExtensionOID

from app.core.transparency.checks import SignatureCheck

PRECERTIFICATE_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.4")
LogLookup = Callable[[bytes, datetime], SignatureCheck | None]


def embedded_scts(
    leaf: x509.Certificate,
) -> tuple[x509.certificate_transparency.SignedCertificateTimestamp, ...]:
    """The SCTs embedded in `leaf` (none when it has no SCT list extension)."""
    try:
        extension = leaf.extensions.get_extension_for_oid(ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS)
    except x509.ExtensionNotFound:
        return ()
    value = extension.value
    assert isinstance(value, x509.PrecertificateSignedCertificateTimestamps)
    return tuple(value)


def verified_sct_logs(
    leaf: x509.Certificate, issuers: Sequence[x509.Certificate], log_for: LogLookup
) -> tuple[frozenset[bytes], tuple[str, ...]]:
    """The distinct trusted CT logs whose embedded SCT verifies, and why the other SCTs did not."""
    issuer = _issuing_ca(issuers)
    if issuer is None:
        return frozenset(), ("no issuing CA to compute the SCT's issuer key hash",)
    key_hash = hashlib.sha256(
        issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).digest()
    tbs = leaf.tbs_precertificate_bytes
    verified: set[bytes] = set()
    problems: list[str] = []
    for sct in embedded_scts(leaf):
        if sct.version != Version.v1 or sct.entry_type != LogEntryType.PRE_CERTIFICATE:
            problems.append("SCT is not a version 1 precertificate SCT")
            continue
        log = log_for(sct.log_id, sct_time(sct))
        if log is None:
            problems.append(f"SCT from CT log {sct.log_id.hex()[:16]}… that is not trusted at its time")
            continue
        if not log.verify(sct.signature, _signed_data(sct, key_hash, tbs)):
            problems.append(f"SCT from CT log {sct.log_id.hex()[:16]}… does not verify")
            continue
        verified.add(sct.log_id)
    return frozenset(verified), tuple(problems)


def sct_time(sct: x509.certificate_transparency.SignedCertificateTimestamp) -> datetime:
    """When the log issued the SCT (`cryptography` gives a naive UTC datetime)."""
    moment = sct.timestamp
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _signed_data(
    sct: x509.certificate_transparency.SignedCertificateTimestamp, issuer_key_hash: bytes, tbs: bytes
) -> bytes:
    milliseconds = round(sct_time(sct).timestamp() * 1000)
    return b"".join(
        [
            b"\x00\x00",  # version v1, signature_type certificate_timestamp
            milliseconds.to_bytes(8, "big"),
            b"\x00\x01",  # entry_type precert_entry
            issuer_key_hash,
            len(tbs).to_bytes(3, "big"),
            tbs,
            len(sct.extension_bytes).to_bytes(2, "big"),
            sct.extension_bytes,
        ]
    )


def _issuing_ca(issuers: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for index, candidate in enumerate(issuers):
        try:
            usages = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return candidate
        if PRECERTIFICATE_SIGNING not in usages:
            return candidate
        if index + 1 == len(issuers):
            return None
    return None
