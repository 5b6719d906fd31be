"""Key files: cosign encrypted keys (real vectors and round trips) and plain PEM keys."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.core.errors import KeyLoadError
from app.core.trust.keys import load_public_key
from app.signing.keyfiles import (
    COSIGN_LABEL,
    SIGSTORE_LABEL,
    encrypt_private_key,
    generate_ecdsa_key,
    is_encrypted,
    public_key_of,
    read_private_key,
)
from app.signing.signingkey import load_signing_key
from tests.fixtures.signing import KeyPair

SKOPEO = "local-skopeo-1.9.3-roundtrip"


def _never() -> bytes:
    raise AssertionError("the password must not be asked for a plain key")


def _fingerprint_of_pub(path: Path) -> str:
    return load_public_key(path.read_bytes(), path.name).fingerprint


def _envelope(pem: bytes) -> dict[str, object]:
    body = b"".join(pem.strip().splitlines()[1:-1])
    return json.loads(base64.b64decode(body))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("key_file", "pub_file", "password"),
    [
        ("policy-controller/examples-keys/cosign.key", "policy-controller/examples-keys/cosign.pub", b""),
        (f"{SKOPEO}/ecdsa-p256.cosign.key", f"{SKOPEO}/ecdsa-p256.pub", b"testpass"),
        (f"{SKOPEO}/ecdsa-p256.sigstore-type.key", f"{SKOPEO}/ecdsa-p256.sigstore-type.pub", b"testpass"),
        (f"{SKOPEO}/ecdsa-p256.n65536.key", f"{SKOPEO}/ecdsa-p256.n65536.pub", b"testpass"),
    ],
)
def test_real_cosign_key_decrypts_to_the_private_half_of_its_pub(
    interop_dir: Path, key_file: str, pub_file: str, password: bytes
) -> None:
    key = read_private_key((interop_dir / key_file).read_bytes(), key_file, lambda: password)
    assert public_key_of(key, "k").fingerprint == _fingerprint_of_pub(interop_dir / pub_file)


def test_wrong_password_is_a_clear_key_error(interop_dir: Path) -> None:
    data = (interop_dir / SKOPEO / "ecdsa-p256.cosign.key").read_bytes()
    with pytest.raises(KeyLoadError, match="wrong password"):
        read_private_key(data, "ecdsa-p256.cosign.key", lambda: b"not-testpass")


@pytest.mark.parametrize(
    ("make", "label"),
    [
        (generate_ecdsa_key, COSIGN_LABEL),
        (lambda: ec.generate_private_key(ec.SECP384R1()), SIGSTORE_LABEL),
        (ed25519.Ed25519PrivateKey.generate, COSIGN_LABEL),
    ],
    ids=["p256-cosign-label", "p384-sigstore-label", "ed25519-cosign-label"],
)
def test_written_key_reads_back_as_the_same_key(make: object, label: str) -> None:
    key = make()  # type: ignore[operator]
    pem = encrypt_private_key(key, b"s3cret", label)
    assert pem.startswith(f"-----BEGIN {label}-----\n".encode())
    assert is_encrypted(pem)
    again = read_private_key(pem, "new.key", lambda: b"s3cret")
    assert public_key_of(again, "a").fingerprint == public_key_of(key, "b").fingerprint


def test_written_key_uses_the_parameters_old_skopeo_accepts() -> None:
    envelope = _envelope(encrypt_private_key(generate_ecdsa_key(), b"pw"))
    assert envelope["kdf"] == {
        "name": "scrypt",
        "params": {"N": 32768, "r": 8, "p": 1},
        "salt": envelope["kdf"]["salt"],
    }  # type: ignore[index]
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32  # type: ignore[index]
    assert envelope["cipher"]["name"] == "nacl/secretbox"  # type: ignore[index]
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24  # type: ignore[index]


def test_two_encryptions_of_one_key_differ_in_salt_and_nonce() -> None:
    key = generate_ecdsa_key()
    first, second = (_envelope(encrypt_private_key(key, b"pw")) for _ in range(2))
    assert first["kdf"]["salt"] != second["kdf"]["salt"]  # type: ignore[index]
    assert first["cipher"]["nonce"] != second["cipher"]["nonce"]  # type: ignore[index]


def test_unsupported_scrypt_parameters_are_refused_before_any_work() -> None:
    pem = encrypt_private_key(generate_ecdsa_key(), b"pw")
    envelope = _envelope(pem)
    envelope["kdf"]["params"]["N"] = 1024  # type: ignore[index]
    body = base64.b64encode(json.dumps(envelope).encode()).decode()
    forged = f"-----BEGIN {COSIGN_LABEL}-----\n{body}\n-----END {COSIGN_LABEL}-----\n".encode()
    with pytest.raises(KeyLoadError, match="unsupported scrypt parameters N=1024"):
        read_private_key(forged, "weak.key", lambda: b"pw")


def test_garbage_inside_a_cosign_pem_is_a_key_error() -> None:
    forged = f"-----BEGIN {COSIGN_LABEL}-----\nbm90IGpzb24=\n-----END {COSIGN_LABEL}-----\n".encode()
    with pytest.raises(KeyLoadError, match="not a cosign encrypted key"):
        read_private_key(forged, "bad.key", lambda: b"")


def test_openssl_rsa_key_loads_without_asking_for_a_password(key_pairs: dict[str, KeyPair]) -> None:
    pair = key_pairs["rsa-openssl"]
    assert pair.private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    key = read_private_key(pair.private.read_bytes(), pair.private.name, _never)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert public_key_of(key, "k").fingerprint == _fingerprint_of_pub(pair.public)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_plain_ec_and_pkcs8_pem_keys_load(fmt: serialization.PrivateFormat) -> None:
    key = generate_ecdsa_key()
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    assert not is_encrypted(pem)
    loaded = read_private_key(pem, "plain.pem", _never)
    assert public_key_of(loaded, "a").fingerprint == public_key_of(key, "b").fingerprint


def test_a_public_key_given_as_private_key_is_refused(key_pairs: dict[str, KeyPair]) -> None:
    with pytest.raises(KeyLoadError, match="unsupported PEM type 'PUBLIC KEY'"):
        read_private_key(key_pairs["ecdsa-p256"].public.read_bytes(), "cosign.pub", _never)


def test_too_small_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyLoadError, match="too small"):
        read_private_key(pem, "small.pem", _never)


def test_missing_key_file_is_a_key_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match=r"key file .*absent\.key not found"):
        load_signing_key(tmp_path / "absent.key", _never)


def test_not_a_pem_file_is_a_key_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(KeyLoadError, match="not a PEM private key"):
        load_signing_key(path, _never)


def _forged(envelope: object) -> bytes:
    body = base64.b64encode(json.dumps(envelope).encode()).decode()
    return f"-----BEGIN {COSIGN_LABEL}-----\n{body}\n-----END {COSIGN_LABEL}-----\n".encode()


@functools.cache
def _good_pem() -> bytes:
    return encrypt_private_key(generate_ecdsa_key(), b"pw")


def _good_envelope() -> dict[str, Any]:
    return _envelope(_good_pem())  # type: ignore[return-value]


def _with(path: tuple[str, ...], value: object) -> dict[str, Any]:
    envelope = _good_envelope()
    target: dict[str, Any] = envelope
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return envelope


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ([1], "bad JSON envelope"),
        (None, "bad JSON envelope"),
        (_with(("kdf", "params"), None), "bad JSON envelope"),
        (_with(("kdf", "params", "N"), "32768"), "bad JSON envelope"),
        (_with(("kdf", "params", "N"), 32768.5), "bad JSON envelope"),
        (_with(("kdf", "name"), "pbkdf2"), "unsupported key encryption"),
        (_with(("kdf", "salt"), "!!"), "not valid base64"),
        (_with(("cipher", "nonce"), 5), "not a base64 string"),
        (_with(("cipher", "nonce"), "AAAA"), "bad secretbox nonce length"),
        (_with(("ciphertext",), ""), "wrong password"),
        (_with(("ciphertext",), "é"), "not a base64 string"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_envelopes_are_key_errors_never_library_exceptions(envelope: object, reason: str) -> None:
    with pytest.raises(KeyLoadError, match=reason):
        read_private_key(_forged(envelope), "forged.key", lambda: b"pw")
