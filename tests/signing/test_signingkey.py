"""Signing keys sign in the scheme cosign uses for their type, and the core's keys verify them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app.core.trust.keys import load_public_key
from app.signing.signingkey import SigningKey, load_signing_key
from tests.fixtures.signing import KeyPair

KINDS = ["ecdsa-p256", "rsa-openssl", "ed25519", "ecdsa-p384"]


def _load(pair: KeyPair) -> SigningKey:
    return load_signing_key(pair.private, lambda: (pair.password or "").encode())


@pytest.mark.parametrize("kind", KINDS)
def test_signature_verifies_with_the_public_key_file(key_pairs: dict[str, KeyPair], kind: str) -> None:
    pair = key_pairs[kind]
    key = _load(pair)
    public = load_public_key(pair.public.read_bytes(), pair.public.name)
    signature = key.sign(b"payload")
    assert public.fingerprint == key.public.fingerprint
    assert public.verify(signature, b"payload")
    assert not public.verify(signature, b"payloaD")


def test_rsa_signs_pkcs1_v15_over_sha256(key_pairs: dict[str, KeyPair]) -> None:
    key = _load(key_pairs["rsa-openssl"])
    public = key.private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(key.sign(b"m"), b"m", padding.PKCS1v15(), hashes.SHA256())  # raises if not


def test_p384_signs_sha256_for_legacy_and_sha384_for_bundles(key_pairs: dict[str, KeyPair]) -> None:
    key = _load(key_pairs["ecdsa-p384"])
    public = key.private.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(key.sign(b"m"), b"m", ec.ECDSA(hashes.SHA256()))
    public.verify(key.sign(b"m", curve_hash=True), b"m", ec.ECDSA(hashes.SHA384()))
