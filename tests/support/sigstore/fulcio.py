"""A Fulcio-like certificate authority and a CT log for the private test instance.

Leaves follow Fulcio's profile (fulcio `docs/certificate-specification.md`): empty subject, critical SAN
(URI or email), key usage digitalSignature, extended key usage codeSigning, the OIDC issuer in
1.3.6.1.4.1.57264.1.1 (raw) and .1.8 (DER UTF8String), and an embedded SCT list (RFC 6962 §3.3) signed by
the CT log over the precertificate TBS, which is built first without the SCT extension.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
UTC = datetime.UTC


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def der_octets(data: bytes) -> bytes:
    return b"\x04" + _der_length(len(data)) + data


def der_utf8(text: str) -> bytes:
    data = text.encode()
    return b"\x0c" + _der_length(len(data)) + data


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


@dataclass
class CtLog:
    """A CT log: a P-256 key whose log ID is SHA-256 of its SPKI (RFC 6962 §3.2)."""

    url: str = "https://ct.private.test"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(spki(self.key.public_key())).digest()

    def sct_list(
        self, tbs: bytes, issuer: x509.Certificate, when: datetime.datetime, extensions: bytes = b""
    ) -> bytes:
        """The TLS-encoded SignedCertificateTimestampList with one SCT for the precertificate `tbs`."""
        millis = int(when.timestamp() * 1000).to_bytes(8, "big")
        issuer_hash = hashlib.sha256(spki(issuer.public_key())).digest()  # type: ignore[arg-type]
        ext = len(extensions).to_bytes(2, "big") + extensions
        signed = b"\x00\x00" + millis + b"\x00\x01" + issuer_hash + len(tbs).to_bytes(3, "big") + tbs + ext
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00" + self.log_id + millis + ext + b"\x04\x03" + len(signature).to_bytes(2, "big") + signature
        )
        item = len(sct).to_bytes(2, "big") + sct
        return len(item).to_bytes(2, "big") + item


@dataclass
class CertificateAuthority:
    """A root and an intermediate, like Fulcio's; issues short-lived code-signing leaves."""

    name: str = "private-fulcio"
    not_before: datetime.datetime = field(default_factory=lambda: datetime.datetime(2020, 1, 1, tzinfo=UTC))
    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )
    intermediate_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )

    def __post_init__(self) -> None:
        until = self.not_before + datetime.timedelta(days=3650)
        self.root = _ca_certificate(
            self.name + "-root", self.root_key, self.root_key, None, self.not_before, until, 1
        )
        self.intermediate = _ca_certificate(
            self.name + "-intermediate",
            self.intermediate_key,
            self.root_key,
            self.root,
            self.not_before,
            until,
            0,
        )

    @property
    def chain(self) -> list[x509.Certificate]:
        """Leaf-most first, as a trusted root lists it."""
        return [self.intermediate, self.root]

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        subject: str,
        issuer: str,
        when: datetime.datetime,
        ct_log: CtLog | None,
        lifetime: datetime.timedelta = datetime.timedelta(minutes=10),
        email: bool = False,
        sct_time: datetime.datetime | None = None,
    ) -> x509.Certificate:
        """A leaf for `subject` (URI SAN, or email) from OIDC `issuer`, valid for `lifetime` from `when`,
        with an SCT from `ct_log` (none when it is None)."""
        serial = x509.random_serial_number()
        san = x509.RFC822Name(subject) if email else x509.UniformResourceIdentifier(subject)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(when)
            .not_valid_after(when + lifetime)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V2, der_utf8(issuer)), critical=False)
        )
        if ct_log is None:
            return builder.sign(self.intermediate_key, hashes.SHA384())
        precertificate = builder.sign(self.intermediate_key, hashes.SHA384())
        scts = ct_log.sct_list(precertificate.tbs_certificate_bytes, self.intermediate, sct_time or when)
        final = builder.add_extension(x509.UnrecognizedExtension(SCT_OID, der_octets(scts)), critical=False)
        return final.sign(self.intermediate_key, hashes.SHA384())


def _ca_certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    path_length: int,
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigwebhook tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(signer, hashes.SHA384())
    )
