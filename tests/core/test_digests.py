"""Digests can only be built valid and check bytes against themselves."""

from __future__ import annotations

import hashlib

import pytest

from app.core.digests import Digest
from app.core.errors import InvalidDigest


def test_a_digest_of_bytes_matches_those_bytes_only() -> None:
    digest = Digest.of(b"hello")
    assert str(digest) == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert digest.matches(b"hello")
    assert not digest.matches(b"hello!")


def test_cosign_tag_names_are_derived_from_the_digest() -> None:
    digest = Digest.parse("sha256:" + "0" * 64)
    assert digest.tag_prefix == "sha256-" + "0" * 64
    assert digest.signature_tag == "sha256-" + "0" * 64 + ".sig"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:xyz",
        "md5:" + "a" * 32,
        "sha256:" + "a" * 65,
        42,
        "SHA256:" + "a" * 64,
    ],
)
def test_malformed_digests_are_rejected(text: object) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)  # type: ignore[arg-type]


def test_sha512_digests_are_supported() -> None:
    digest = Digest.of(b"x", "sha512")
    assert Digest.parse(str(digest)) == digest
