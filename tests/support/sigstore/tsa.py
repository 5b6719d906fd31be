"""An RFC 3161 timestamp authority for the private test instance, backed by the real `openssl ts`.

The tokens come from OpenSSL's TSA (`openssl ts -query` / `-reply`), not from code of this project, so
the parser and checks are tested against an independent implementation. The TSA certificate has the
critical extended key usage timeStamping that RFC 3161 §2.3 requires; the token embeds it and names it
with an ESS signingCertificateV2 attribute (SHA-256). genTime is the current time (openssl cannot
backdate), so tests that need a past time use Rekor integrated times instead.
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.UTC
_CONFIG = """\
[ tsa ]
default_tsa = private
[ private ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class TimestampAuthority:
    """A TSA root and signing certificate under `directory`, and the openssl configuration using them."""

    directory: Path
    url: str = "https://tsa.private.test/api/v1/timestamp"

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        start = datetime.datetime.now(UTC) - datetime.timedelta(days=1)
        until = start + datetime.timedelta(days=365)
        root_key = ec.generate_private_key(ec.SECP384R1())
        key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name("private-tsa-root")
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(root_key, hashes.SHA384())
        )
        self.leaf = (
            x509.CertificateBuilder()
            .subject_name(_name("private-tsa"))
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(until)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(root_key, hashes.SHA384())
        )
        (self.directory / "tsa.pem").write_bytes(self.leaf.public_bytes(serialization.Encoding.PEM))
        (self.directory / "tsa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (self.directory / "serial").write_text("01\n")
        (self.directory / "tsa.cnf").write_text(_CONFIG.format(dir=self.directory))

    @property
    def chain(self) -> list[x509.Certificate]:
        """Leaf first, then the root: as a trusted root's `timestampAuthorities[].certChain` lists it."""
        return [self.leaf, self.root]

    def timestamp(self, data: bytes) -> bytes:
        """A DER TimeStampResp over SHA-256(`data`), with the TSA certificate embedded."""
        (self.directory / "data").write_bytes(data)
        query, response = self.directory / "request.tsq", self.directory / "response.tsr"
        _openssl(
            "ts", "-query", "-data", str(self.directory / "data"), "-sha256", "-cert", "-out", str(query)
        )
        _openssl(
            "ts",
            "-reply",
            "-config",
            str(self.directory / "tsa.cnf"),
            "-queryfile",
            str(query),
            "-out",
            str(response),
        )
        return response.read_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigwebhook tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
