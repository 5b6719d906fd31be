"""RFC 3161 timestamp tokens: a timestamp authority's signed statement that a signature existed at a time.

A sigstore bundle's `timestampVerificationData.rfc3161Timestamps[].signedTimestamp` is a DER
`TimeStampResp` (RFC 3161 §2.4.2) whose token is a CMS `SignedData` (RFC 5652 §5) over a `TSTInfo`.
The message imprint is the hash of the *signature bytes* being timestamped (sigstore's convention).
`parse_timestamp` reads it strictly (`der`); the token then says:

- `covers(signature)`: the imprint is the hash of those bytes;
- `signer_problem(certificate)`: the `SignerInfo` names that certificate (issuer + serial or key ID), its
  ESS `signingCertificate`/`signingCertificateV2` attribute hashes it (RFC 5035), the `messageDigest`
  attribute is the hash of the TSTInfo, the content type is TSTInfo, and the signature over the signed
  attributes verifies with the certificate's key.

Whether that certificate belongs to a trusted TSA, at `gen_time`, is for the trust code to say. Pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from app.core import der
from app.core.der import DerError, Tlv
from app.core.digests import HASH_OBJECTS
from app.core.errors import SignatureFormatError

SIGNED_DATA, TST_INFO = "1.2.840.113549.1.7.2", "1.2.840.113549.1.9.16.1.4"
CONTENT_TYPE, MESSAGE_DIGEST = "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"
SIGNING_CERTIFICATE, SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.12", "1.2.840.113549.1.9.16.2.47"
HASHES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.3.14.3.2.26": "sha1",  # only for ESS signingCertificate (v1), which RFC 2634 fixes to SHA-1
}
_SIGNATURE_HASHES = {  # signature algorithm → its hash; None: the SignerInfo's digest algorithm
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.10045.2.1": None,  # id-ecPublicKey, as some TSAs write it
    "1.2.840.113549.1.1.1": None,  # rsaEncryption
    "1.3.101.112": None,  # Ed25519
}


@dataclass(frozen=True)
class TimestampToken:
    """A parsed RFC 3161 token (its signature not yet checked)."""

    gen_time: datetime
    policy: str
    imprint_algorithm: str
    imprint: bytes
    certificates: tuple[x509.Certificate, ...]  # embedded in the token, untrusted
    signer_id: tuple[bytes, int] | bytes  # (issuer Name DER, serial) or subject key identifier
    signed_attributes: bytes  # DER, re-tagged as a SET: what the signature covers
    content_digest_ok: bool  # messageDigest attribute == hash of the TSTInfo
    cert_ids: tuple[tuple[str, bytes, int | None], ...]  # ESS (hash algorithm, hash, serial)
    digest_algorithm: str
    signature_algorithm: str
    signature: bytes

    def covers(self, data: bytes) -> bool:
        """True when the token's message imprint is the hash of `data`."""
        return hashlib.new(self.imprint_algorithm, data).digest() == self.imprint

    def names(self, certificate: x509.Certificate) -> bool:
        """True when the SignerInfo identifies `certificate` (issuer and serial, or key identifier)."""
        if isinstance(self.signer_id, bytes):
            try:
                ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            except x509.ExtensionNotFound:
                return False
            return ski.digest == self.signer_id
        issuer, serial = self.signer_id
        return certificate.issuer.public_bytes() == issuer and certificate.serial_number == serial

    def signer_problem(self, certificate: x509.Certificate) -> str | None:
        """Why `certificate` did not sign this token (None when it did)."""
        if not self.names(certificate):
            return "timestamp is not signed by the timestamp authority's certificate"
        der_bytes = certificate.public_bytes(Encoding.DER)
        if not any(
            hashlib.new(algorithm, der_bytes).digest() == digest
            and serial in (None, certificate.serial_number)
            for algorithm, digest, serial in self.cert_ids
        ):
            return "timestamp's signing-certificate attribute does not name the authority's certificate"
        if not self.content_digest_ok:
            return "timestamp's message digest attribute does not match its content"
        if not _signature_ok(self, certificate.public_key()):
            return "timestamp signature does not verify with the authority's key"
        return None


def parse_timestamp(data: bytes) -> TimestampToken:
    """Parse a DER `TimeStampResp`; `SignatureFormatError` when it is malformed or not granted."""
    try:
        response = der.read(data, "RFC 3161 response").expect(der.SEQUENCE, "TimeStampResp").children()
        if len(response) != 2:
            raise DerError("RFC 3161 response has no token")
        status = response[0].expect(der.SEQUENCE, "PKIStatusInfo").children()
        if not status or der.integer(status[0], "PKIStatus") not in (0, 1):
            raise DerError("RFC 3161 response status is not granted")
        return _token(response[1])
    except DerError:
        raise
    except (ValueError, IndexError, UnsupportedAlgorithm) as exc:
        raise SignatureFormatError("malformed RFC 3161 timestamp", f"RFC 3161: {exc!r}") from exc


def _token(content_info: Tlv) -> TimestampToken:
    content_type, wrapped = content_info.expect(der.SEQUENCE, "ContentInfo").children()
    if der.oid(content_type, "contentType") != SIGNED_DATA or not wrapped.context(0):
        raise DerError("timestamp token is not CMS SignedData")
    (signed_data,) = wrapped.children()
    fields = signed_data.expect(der.SEQUENCE, "SignedData").children()
    encap = fields[2].expect(der.SEQUENCE, "encapContentInfo").children()
    if der.oid(encap[0], "eContentType") != TST_INFO or len(encap) != 2 or not encap[1].context(0):
        raise DerError("timestamp token does not hold a TSTInfo")
    (content,) = encap[1].children()
    tst_info = der.octets(content, "eContent")
    certificates = tuple(
        x509.load_der_x509_certificate(c.expect(der.SEQUENCE, "certificate").raw)
        for f in fields[3:-1]
        if f.context(0)
        for c in f.children()
    )
    signer_infos = fields[-1].expect(der.SET, "signerInfos").children()
    if len(signer_infos) != 1:
        raise DerError("timestamp token must have exactly one signer")
    return _with_signer(_tst_info(tst_info), tst_info, certificates, signer_infos[0])


@dataclass(frozen=True)
class _Info:
    policy: str
    imprint_algorithm: str
    imprint: bytes
    gen_time: datetime


def _tst_info(data: bytes) -> _Info:
    fields = der.read(data, "TSTInfo").expect(der.SEQUENCE, "TSTInfo").children()
    if der.integer(fields[0], "TSTInfo version") != 1:
        raise DerError("TSTInfo version is not 1")
    algorithm, imprint = fields[2].expect(der.SEQUENCE, "messageImprint").children()
    return _Info(
        policy=der.oid(fields[1], "TSTInfo policy"),
        imprint_algorithm=_hash_name(algorithm),
        imprint=der.octets(imprint, "hashedMessage"),
        gen_time=der.generalized_time(fields[4], "genTime"),
    )


def _with_signer(
    info: _Info, tst_info: bytes, certificates: tuple[x509.Certificate, ...], signer: Tlv
) -> TimestampToken:
    fields = signer.expect(der.SEQUENCE, "SignerInfo").children()
    sid, digest_algorithm, attributes = fields[1], _hash_name(fields[2]), fields[3]
    if not attributes.context(0):
        raise DerError("timestamp SignerInfo has no signed attributes")
    signature_algorithm = der.oid(fields[4].expect(der.SEQUENCE, "signatureAlgorithm").children()[0], "alg")
    if signature_algorithm not in _SIGNATURE_HASHES:
        raise DerError(f"unsupported timestamp signature algorithm {signature_algorithm}")
    found = _attributes(attributes)
    if der.oid(found.get(CONTENT_TYPE) or _missing("contentType"), "contentType") != TST_INFO:
        raise DerError("timestamp content-type attribute is not TSTInfo")
    digest = der.octets(found.get(MESSAGE_DIGEST) or _missing("messageDigest"), "messageDigest")
    return TimestampToken(
        gen_time=info.gen_time,
        policy=info.policy,
        imprint_algorithm=info.imprint_algorithm,
        imprint=info.imprint,
        certificates=certificates,
        signer_id=_signer_id(sid),
        signed_attributes=bytes([der.SET]) + attributes.raw[1:],
        content_digest_ok=hashlib.new(digest_algorithm, tst_info).digest() == digest,
        cert_ids=_cert_ids(found),
        digest_algorithm=digest_algorithm,
        signature_algorithm=signature_algorithm,
        signature=der.octets(fields[5], "signature"),
    )


def _attributes(attributes: Tlv) -> dict[str, Tlv]:
    found: dict[str, Tlv] = {}
    for attribute in attributes.children():
        kind, values = attribute.expect(der.SEQUENCE, "Attribute").children()
        name, members = der.oid(kind, "attrType"), values.expect(der.SET, "attrValues").children()
        if name in found or len(members) != 1:
            raise DerError("timestamp signed attribute repeated or with several values")
        found[name] = members[0]
    return found


def _cert_ids(found: dict[str, Tlv]) -> tuple[tuple[str, bytes, int | None], ...]:
    ids: list[tuple[str, bytes, int | None]] = []
    for name, default in ((SIGNING_CERTIFICATE, "sha1"), (SIGNING_CERTIFICATE_V2, "sha256")):
        if name not in found:
            continue
        certs = found[name].expect(der.SEQUENCE, "SigningCertificate").children()[0].children()
        for cert_id in certs:
            parts = cert_id.expect(der.SEQUENCE, "ESSCertID").children()
            algorithm = default
            if parts and parts[0].tag == der.SEQUENCE and name == SIGNING_CERTIFICATE_V2:
                algorithm, parts = _hash_name(parts[0]), parts[1:]
            serial = der.integer(parts[1].children()[1], "serial") if len(parts) > 1 else None
            ids.append((algorithm, der.octets(parts[0], "certHash"), serial))
    if not ids:
        raise DerError("timestamp has no signing-certificate attribute")
    return tuple(ids)


def _signer_id(sid: Tlv) -> tuple[bytes, int] | bytes:
    if sid.tag == 0x80:  # [0] IMPLICIT SubjectKeyIdentifier
        return sid.value
    issuer, serial = sid.expect(der.SEQUENCE, "IssuerAndSerialNumber").children()
    return issuer.expect(der.SEQUENCE, "issuer").raw, der.integer(serial, "serialNumber")


def _hash_name(algorithm: Tlv) -> str:
    parts = algorithm.expect(der.SEQUENCE, "AlgorithmIdentifier").children()
    name = HASHES.get(der.oid(parts[0], "hash algorithm"))
    if name is None or len(parts) > 2 or (len(parts) == 2 and parts[1].tag != der.NULL):
        raise DerError("unsupported hash algorithm in timestamp")
    return name


def _missing(what: str) -> Tlv:
    raise DerError(f"timestamp has no {what} attribute")


def _signature_ok(token: TimestampToken, key: object) -> bool:
    chosen = _SIGNATURE_HASHES[token.signature_algorithm] or token.digest_algorithm
    algorithm = HASH_OBJECTS.get(chosen)
    message = token.signed_attributes
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm:
            key.verify(token.signature, message, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm:
            key.verify(token.signature, message, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey) and token.signature_algorithm == "1.3.101.112":
            key.verify(token.signature, message)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
