"""The one thing the proofs need from a trusted key: check a signature over a message.

`app.core.trust.keys.TrustedKey` satisfies it (ECDSA with SHA-256 or the curve's hash, RSA PKCS#1 v1.5 or PSS,
pure Ed25519), so the transparency code never depends on where keys come from.
"""

from __future__ import annotations

from typing import Protocol


class SignatureCheck(Protocol):
    """A public key that can tell whether `signature` is its signature over `message`."""

    def verify(self, signature: bytes, message: bytes) -> bool: ...
