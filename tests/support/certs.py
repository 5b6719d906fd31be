"""Test PKI: a CA and a server certificate for 127.0.0.1 (trustme), and a self-signed token-signing key.

Files are written under a temp directory; nothing here is trusted outside the tests.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ServerTls:
    """PEM files for a TLS server on 127.0.0.1 and the CA that signed it."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def issue_server_tls(directory: Path, name: str = "registry", rsa: bool = False) -> ServerTls:
    """A fresh CA and a server certificate valid for 127.0.0.1 and localhost (ECDSA keys, or RSA)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_type = trustme.KeyType.RSA if rsa else trustme.KeyType.ECDSA
    ca = trustme.CA(organization_name=f"sigwebhook test CA ({name})", key_type=key_type)
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    paths = ServerTls(
        directory / f"{name}-ca.pem", directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    )
    ca.cert_pem.write_to_path(str(paths.ca_file))
    leaf.private_key_pem.write_to_path(str(paths.key_file))
    with paths.cert_file.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    return paths


@dataclass(frozen=True)
class SigningKey:
    """An ECDSA P-256 key with a self-signed certificate (DER for the JWT `x5c`, PEM for the registry)."""

    private_key: ec.EllipticCurvePrivateKey
    cert_der: bytes
    cert_file: Path


def make_token_signing_key(directory: Path) -> SigningKey:
    """A token-signing key whose self-signed certificate is the registry's `rootcertbundle`."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigwebhook test token issuer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "token-signer.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SigningKey(key, cert.public_bytes(serialization.Encoding.DER), cert_file)
