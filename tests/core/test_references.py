"""Image references parse and normalise as distribution's reference package does."""

from __future__ import annotations

import pytest

from app.core.digests import Digest
from app.core.errors import InvalidReference
from app.core.references import ImageRef, Repository, parse_reference

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("bitnami/redis", "docker.io/bitnami/redis:latest"),
        ("ghcr.io/org/team/app:v1.2", "ghcr.io/org/team/app:v1.2"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("127.0.0.1:5000/demo:v1", "127.0.0.1:5000/demo:v1"),
        ("[::1]:5000/demo", "[::1]:5000/demo:latest"),
        ("registry.example.com/a/b__c-d.e:TAG_1.0-x", "registry.example.com/a/b__c-d.e:TAG_1.0-x"),
        (f"nginx@sha256:{HEX}", f"docker.io/library/nginx@sha256:{HEX}"),
        (f"quay.io/x/y:v1@sha256:{HEX}", f"quay.io/x/y:v1@sha256:{HEX}"),
        # distribution treats an upper-case first component as a registry host
        ("Registry/app", "Registry/app:latest"),
    ],
)
def test_references_normalise_like_distribution(text: str, normalised: str) -> None:
    assert str(parse_reference(text)) == normalised


def test_a_digest_reference_keeps_tag_and_digest() -> None:
    ref = parse_reference(f"reg.io/app:1.0@sha256:{HEX}")
    assert ref.tag == "1.0"
    assert ref.digest == Digest("sha256", HEX)
    assert ref.repository == Repository("reg.io", "app")
    assert ref.pinned() == f"reg.io/app@sha256:{HEX}"


def test_a_digest_only_reference_has_no_default_tag() -> None:
    ref = parse_reference(f"reg.io/app@sha256:{HEX}")
    assert ref.tag is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" nginx", "whitespace"),
        ("ngi nx", "whitespace"),
        ("nginx\n", "whitespace"),
        ("nginx\x00", "control"),
        ("nginx:", "reference format"),
        ("reg.io/App", "lowercase"),
        ("reg.io/app:tag with space", "whitespace"),
        ("reg.io/app:" + "t" * 129, "reference format"),
        ("reg.io//app", "reference format"),
        ("reg.io/app/", "reference format"),
        ("-reg.io/app", "reference format"),
        ("reg.io/app@sha256:abc", "reference format"),
        (f"reg.io/app@md5:{'a' * 32}", "unsupported digest algorithm"),
        (f"reg.io/app@sha256:{'A' * 64}", "lower-case"),
        (f"reg.io/app@sha256:{'a' * 63}", "64 lower-case hex"),
        ("a" * 64, "image ID"),
        ("reg.io/" + "a" * 300, "longer than 255"),
        ("reg.io/app:tag:tag", "reference format"),
        ("reg.io/app:t\u00e2g", "reference format"),  # distribution's tag \w is ASCII only
        ("reg.io/app:\u0661\u0662", "reference format"),  # Arabic-Indic digits
        ("https://reg.io/app", "reference format"),
        ("../../etc/passwd", "reference format"),
    ],
)
def test_invalid_references_are_a_clear_error(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference) as raised:
        parse_reference(text)
    assert reason in raised.value.reason


def test_a_reference_needs_a_tag_or_a_digest() -> None:
    with pytest.raises(InvalidReference):
        ImageRef(Repository("reg.io", "app"))


def test_pinning_a_reference_without_digest_is_an_error() -> None:
    with pytest.raises(InvalidReference):
        parse_reference("reg.io/app:1").pinned()


def test_with_digest_pins_the_verified_manifest() -> None:
    ref = parse_reference("reg.io/app:1").with_digest(Digest("sha256", HEX))
    assert str(ref) == f"reg.io/app:1@sha256:{HEX}"
