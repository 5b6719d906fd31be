"""Private key files: cosign's encrypted `cosign.key` and plain PEM private keys.

Reads (docs/formats.md#encrypted-private-keys):
- `ENCRYPTED COSIGN PRIVATE KEY` / `ENCRYPTED SIGSTORE PRIVATE KEY`: the PEM body is the JSON envelope of
  go-securesystemslib's `encrypted` package: scrypt (N ∈ {32768, 65536, 131072}, r=8, p=1) derives a
  32-byte key that opens a NaCl secretbox (XSalsa20-Poly1305) holding a PKCS#8 DER private key;
- plain PEM: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1), `RSA PRIVATE KEY` (PKCS#1), as `openssl
  genpkey`/`openssl ecparam` write them, and `ENCRYPTED PRIVATE KEY` (PKCS#8 with a password).
Writes `ENCRYPTED COSIGN PRIVATE KEY` with N=32768, r=8, p=1: the one combination that old skopeo
(containers/image 5.22) and current cosign both accept.

The password comes from a callable, asked only when the file is encrypted. No terminal or environment
access here (that is the CLI's job) and no password or key bytes in any message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.core.errors import KeyLoadError
from app.core.trust.keys import TrustedKey, trusted_key_from

PrivateKeyObject = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PasswordSource = Callable[[], bytes]

COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"  # cosign <= 2.0.0, skopeo 1.9
SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"  # cosign >= 2.0.1
_ENCRYPTED_LABELS = (COSIGN_LABEL, SIGSTORE_LABEL)
_PLAIN_LABELS = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
_PKCS8_ENCRYPTED_LABEL = "ENCRYPTED PRIVATE KEY"

# go-securesystemslib >= v0.7.0 `encrypted`: the only scrypt parameter sets it accepts.
ACCEPTED_SCRYPT_PARAMS = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
WRITE_SCRYPT_N = 32768
_SALT_BYTES = 32
_KEY_BYTES = 32
_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)


def read_private_key(pem: bytes, name: str, password: PasswordSource) -> PrivateKeyObject:
    """Parse a private key file; `password()` is called only when the file is encrypted.

    Raises `KeyLoadError` naming `name` for anything unreadable: an unknown PEM type, a wrong
    password, unsupported scrypt parameters, or an unsupported key type.
    """
    match = _PEM_BLOCK.search(pem)
    if match is None:
        raise KeyLoadError(f"{name}: not a PEM private key (no -----BEGIN …----- block)")
    label = match.group("label").decode()
    if label in _ENCRYPTED_LABELS:
        der = _decrypt_envelope(_b64(match.group("body"), name, "PEM body"), name, password())
        try:
            key: object = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"{name}: the decrypted key is not PKCS#8", f"{name}: {exc}") from exc
    elif label in _PLAIN_LABELS or label == _PKCS8_ENCRYPTED_LABEL:
        secret = password() if label == _PKCS8_ENCRYPTED_LABEL else None
        try:
            key = serialization.load_pem_private_key(match.group(0), password=secret)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            reason = "wrong password or corrupt key" if secret is not None else "cannot parse the private key"
            raise KeyLoadError(f"{name}: {reason}", f"{name}: {exc}") from exc
    else:
        raise KeyLoadError(
            f"{name}: unsupported PEM type {label!r} (expected {COSIGN_LABEL!r}, {SIGSTORE_LABEL!r} "
            "or a plain PRIVATE KEY)"
        )
    return _checked(key, name)


def public_key_of(key: PrivateKeyObject, name: str) -> TrustedKey:
    """The public half of `key` as the core's `TrustedKey` (fingerprint, hint)."""
    return trusted_key_from(key.public_key(), name)


def public_key_pem(key: PrivateKeyObject) -> bytes:
    """`-----BEGIN PUBLIC KEY-----` (SPKI), as `cosign.pub` holds it."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_ecdsa_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 key: the only kind `cosign generate-key-pair` makes."""
    return ec.generate_private_key(ec.SECP256R1())


def encrypt_private_key(key: PrivateKeyObject, password: bytes, label: str = COSIGN_LABEL) -> bytes:
    """`key` as a cosign encrypted PEM (scrypt N=32768 r=8 p=1, nacl/secretbox, PKCS#8 inside)."""
    if label not in _ENCRYPTED_LABELS:
        raise ValueError(f"not a cosign key label: {label!r}")
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = os.urandom(_SALT_BYTES)
    box_key = _scrypt(password, salt, WRITE_SCRYPT_N, 8, 1)
    nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    ciphertext = nacl.secret.SecretBox(box_key).encrypt(pkcs8, nonce).ciphertext
    envelope = {
        "kdf": {"name": "scrypt", "params": {"N": WRITE_SCRYPT_N, "r": 8, "p": 1}, "salt": _b64e(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64e(nonce)},
        "ciphertext": _b64e(ciphertext),
    }
    body = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def is_encrypted(pem: bytes) -> bool:
    """True when the first PEM block needs a password."""
    match = _PEM_BLOCK.search(pem)
    return match is not None and match.group("label").decode() in (*_ENCRYPTED_LABELS, _PKCS8_ENCRYPTED_LABEL)


def _decrypt_envelope(body: bytes, name: str, password: bytes) -> bytes:
    try:
        envelope = json.loads(body)
        kdf, cipher = envelope["kdf"], envelope["cipher"]
        params = kdf["params"]
        scrypt_params = (_integer(params["N"]), _integer(params["r"]), _integer(params["p"]))
        names = (kdf["name"], cipher["name"])
        salt_text, nonce_text, ct_text = kdf["salt"], cipher["nonce"], envelope["ciphertext"]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyLoadError(
            f"{name}: not a cosign encrypted key (bad JSON envelope)", f"{name}: {exc}"
        ) from exc
    if names != ("scrypt", "nacl/secretbox"):
        raise KeyLoadError(
            f"{name}: unsupported key encryption {names[0]}/{names[1]} (expected scrypt/nacl/secretbox)"
        )
    if scrypt_params not in ACCEPTED_SCRYPT_PARAMS:
        raise KeyLoadError(
            f"{name}: unsupported scrypt parameters N={scrypt_params[0]} r={scrypt_params[1]} p={scrypt_params[2]}"
        )
    salt, nonce, ciphertext = (
        _b64(_ascii(v, name), name, "envelope") for v in (salt_text, nonce_text, ct_text)
    )
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise KeyLoadError(f"{name}: bad secretbox nonce length {len(nonce)}")
    box_key = _scrypt(password, salt, *scrypt_params)
    try:
        return bytes(nacl.secret.SecretBox(box_key).decrypt(ciphertext, nonce))
    except nacl.exceptions.CryptoError as exc:
        raise KeyLoadError(f"{name}: wrong password (or the key file is corrupt)") from exc


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib needs maxmem above 128·N·r bytes (128 MiB for N=131072); give it twice that.
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=_KEY_BYTES
    )


def _checked(key: object, name: str) -> PrivateKeyObject:
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        trusted_key_from(key.public_key(), name)  # same curve/size rules as for verification
        return key
    raise KeyLoadError(f"{name}: unsupported private key type {type(key).__name__}")


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("scrypt parameters must be integers")
    return value


def _ascii(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value.isascii():
        raise KeyLoadError(f"{name}: not a cosign encrypted key (envelope field is not a base64 string)")
    return value.encode("ascii")


def _b64(data: bytes, name: str, what: str) -> bytes:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyLoadError(f"{name}: {what} is not valid base64") from exc


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode()
