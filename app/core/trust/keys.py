"""Public keys that verify cosign signatures: parsing, fingerprints and signature checks.

Supported (docs/formats.md#signature-schemes, #public-keys): PEM SubjectPublicKeyInfo (and PKCS#1
`RSA PUBLIC KEY`) with ECDSA P-256/P-384/P-521 (SHA-256, as legacy `cosign verify` hashes, plus the
curve's own hash), RSA (PKCS#1 v1.5, then PSS, over SHA-256) and pure Ed25519 (pyca has no Ed25519ph).
A key is named by where it came from and identified everywhere by its fingerprint: sha256 of the SPKI
DER.
No I/O: callers hand in the PEM bytes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from app.core.errors import KeyLoadError

PublicKeyObject = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_SUPPORTED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_CURVE_HASH: dict[type[ec.EllipticCurve], type[hashes.HashAlgorithm]] = {
    ec.SECP256R1: hashes.SHA256,
    ec.SECP384R1: hashes.SHA384,
    ec.SECP521R1: hashes.SHA512,
}
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class TrustedKey:
    """A parsed public key, its fingerprint and where it came from (`name`)."""

    name: str
    fingerprint: str  # "sha256:<hex of SPKI DER>"
    key: PublicKeyObject
    der: bytes

    @property
    def algorithm(self) -> str:
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return f"ecdsa-{self.key.curve.name}"
        if isinstance(self.key, rsa.RSAPublicKey):
            return f"rsa-{self.key.key_size}"
        return "ed25519"

    @property
    def hint(self) -> str:
        """base64(sha256(SPKI DER)): the `publicKey.hint` cosign v3 writes into bundles."""
        return base64.b64encode(hashlib.sha256(self.der).digest()).decode()

    def short(self) -> str:
        """`SHA256:<first 16 hex>` for log lines and messages."""
        return "SHA256:" + self.fingerprint.split(":", 1)[1][:16]

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when `signature` is this key's signature over `message` (the raw bytes, hashed here)."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                return self._verify_ecdsa(signature, message)
            if isinstance(self.key, rsa.RSAPublicKey):
                return self._verify_rsa(signature, message)
            self.key.verify(signature, message)
            return True
        except (InvalidSignature, ValueError, TypeError):
            return False

    def verify_prehashed(self, signature: bytes, digest: bytes, algorithm: hashes.HashAlgorithm) -> bool:
        """True when `signature` is over a message whose `algorithm` digest is `digest`."""
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, digest, ec.ECDSA(Prehashed(algorithm)))
                return True
            if isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, digest, padding.PKCS1v15(), Prehashed(algorithm))
                return True
            return False  # Ed25519 cannot verify a prehashed message
        except (InvalidSignature, ValueError, TypeError):
            return False

    def _verify_ecdsa(self, signature: bytes, message: bytes) -> bool:
        assert isinstance(self.key, ec.EllipticCurvePublicKey)
        # Legacy cosign verifies with SHA-256 whatever the curve; sigstore pairs P-384/P-521 with
        # SHA-384/SHA-512. Accept either: both are sound signatures by this key over `message`.
        candidates: list[type[hashes.HashAlgorithm]] = [hashes.SHA256]
        own = _CURVE_HASH[type(self.key.curve)]
        if own is not hashes.SHA256:
            candidates.append(own)
        for hash_type in candidates:
            try:
                self.key.verify(signature, message, ec.ECDSA(hash_type()))
                return True
            except InvalidSignature:
                continue
        return False

    def _verify_rsa(self, signature: bytes, message: bytes) -> bool:
        assert isinstance(self.key, rsa.RSAPublicKey)
        schemes: list[padding.AsymmetricPadding] = [
            padding.PKCS1v15(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
        ]
        for scheme in schemes:
            try:
                self.key.verify(signature, message, scheme, hashes.SHA256())
                return True
            except InvalidSignature:
                continue
        return False


def load_public_key(pem: bytes | str, name: str) -> TrustedKey:
    """Parse one PEM public key; raise `KeyLoadError` naming `name` when it is not a usable key."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(
            f"{name}: not a PEM public key (expected -----BEGIN PUBLIC KEY-----)", f"{name}: {exc}"
        ) from exc
    return trusted_key_from(key, name)


def trusted_key_from(key: object, name: str) -> TrustedKey:
    """Wrap an already parsed `cryptography` public key, checking it is of a supported kind."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _SUPPORTED_CURVES):
            raise KeyLoadError(f"{name}: unsupported elliptic curve {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyLoadError(
                f"{name}: RSA key of {key.key_size} bits is too small (minimum {MIN_RSA_BITS})"
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyLoadError(f"{name}: unsupported key type {type(key).__name__}")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return TrustedKey(name=name, fingerprint="sha256:" + hashlib.sha256(der).hexdigest(), key=key, der=der)
