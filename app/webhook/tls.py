"""The serving certificate: the configured files, or a self-signed one generated on first start.

The self-signed certificate (for a fresh machine, `tls.selfSignedDir`) names `localhost`,
`127.0.0.1` and `::1`, is its own CA (so `curl --cacert DIR/tls.crt` and a webhook `caBundle` both
accept it) and is reused on later starts. The private key file is written 0600. Nothing here is
loaded at import time.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.clock import SYSTEM_CLOCK
from app.core.errors import ConfigError
from app.core.ports import Clock

CERT_NAME = "tls.crt"
KEY_NAME = "tls.key"
VALIDITY_DAYS = 365


@dataclass(frozen=True)
class ServingCertificate:
    """Paths uvicorn loads; `generated` is True when this start created them."""

    cert_file: Path
    key_file: Path
    generated: bool = False


def configured_certificate(cert_file: Path, key_file: Path) -> ServingCertificate:
    """Check the configured files exist (uvicorn's own error would be an ssl traceback)."""
    for what, path in (("server.tls.certFile", cert_file), ("server.tls.keyFile", key_file)):
        if not path.is_file():
            raise ConfigError(f"{what}: {path} does not exist or is not a file")
    return ServingCertificate(cert_file, key_file)


def self_signed_certificate(directory: Path, clock: Clock = SYSTEM_CLOCK) -> ServingCertificate:
    """The certificate in `directory`, generated there first if absent (or about to expire)."""
    cert_file, key_file = directory / CERT_NAME, directory / KEY_NAME
    moment = clock.now()
    if cert_file.is_file() and key_file.is_file() and _still_valid(cert_file, moment):
        return ServingCertificate(cert_file, key_file)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        cert_pem, key_pem = generate_self_signed(moment)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a key file that already exists
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        cert_file.write_bytes(cert_pem)
    except OSError as exc:
        raise ConfigError(
            f"server.tls.selfSignedDir: cannot write a certificate to {directory}: {exc.strerror}"
        ) from exc
    return ServingCertificate(cert_file, key_file, generated=True)


def generate_self_signed(now: datetime.datetime) -> tuple[bytes, bytes]:
    """A P-256 key and a self-signed certificate for localhost (PEM certificate, PEM PKCS#8 key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigwebhook (self-signed)")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _still_valid(cert_file: Path, now: datetime.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc > now + datetime.timedelta(days=1)
