"""A private key ready to sign: loaded from a file, with its public half and the signature schemes
cosign uses for each key type.

Schemes (docs/formats.md#signature-schemes, cosign SIGNATURE_SPEC): ECDSA → ECDSA over SHA-256, ASN.1
DER; RSA → RSASSA-PKCS1-v1_5 over SHA-256; Ed25519 → pure Ed25519 (pyca has no Ed25519ph). Sigstore
bundles pair P-384/P-521 with SHA-384/SHA-512 (`curve_hash=True`); the core's verifier accepts both for
ECDSA.
Reads the key file only; no terminal access (the password comes from a callable).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app.core.errors import KeyLoadError
from app.core.trust.keys import TrustedKey
from app.signing.keyfiles import PasswordSource, PrivateKeyObject, public_key_of, read_private_key
from app.trust_files import read_file

_CURVE_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
MAX_KEY_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SigningKey:
    """A private key, where it came from (`name`) and its public half (`public.fingerprint`)."""

    name: str
    private: PrivateKeyObject
    public: TrustedKey

    @classmethod
    def from_private(cls, private: PrivateKeyObject, name: str) -> SigningKey:
        return cls(name=name, private=private, public=public_key_of(private, name))

    def sign(self, message: bytes, *, curve_hash: bool = False) -> bytes:
        """The signature over `message` (hashed here), in the scheme cosign uses for this key type."""
        key = self.private
        if isinstance(key, ec.EllipticCurvePrivateKey):
            hash_type = _CURVE_HASH.get(key.curve.name, hashes.SHA256) if curve_hash else hashes.SHA256
            return key.sign(message, ec.ECDSA(hash_type()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(message)


def load_signing_key(path: Path, password: PasswordSource) -> SigningKey:
    """Read and decrypt the private key file at `path`; `KeyLoadError` with a clear reason otherwise."""
    data = read_file(path, MAX_KEY_FILE_BYTES, "key", KeyLoadError)
    return SigningKey.from_private(read_private_key(data, path.name, password), path.name)
