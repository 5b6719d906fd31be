"""`sign_image` writes what cosign writes, and the core's `Verifier` accepts it.

Layout details are checked here against the in-memory registry fake (every write is inspectable); the
same paths run against a real docker-registry in `tests/cli/`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.core.formats.bundles import BUNDLE_V03_MEDIA_TYPE
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.formats.layouts import SIGNATURE_ANNOTATION, parse_descriptor, parse_index
from app.core.ports import Descriptor
from app.core.references import ImageRef, Repository
from app.core.verification.verdicts import SignatureFormat
from app.core.verification.verifier import Verifier
from app.signing.keyfiles import generate_ecdsa_key
from app.signing.signer import docker_reference, sign_image
from app.signing.signingkey import SigningKey
from tests.core.signers import REPO, by_tag, push_image, unlogged
from tests.fakes import InMemoryRegistry, ManualClock

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
V2, V3 = SignatureFormat.COSIGN_V2_SIG_TAG, SignatureFormat.COSIGN_V3_BUNDLE


def _key(name: str = "cosign.key", private: object | None = None) -> SigningKey:
    return SigningKey.from_private(private or generate_ecdsa_key(), name)  # type: ignore[arg-type]


def _sig_layers(registry: InMemoryRegistry, tag: str) -> list[dict[str, object]]:
    data = registry.get_manifest(REPO, tag)
    assert data is not None, f"nothing at tag {tag}"
    return json.loads(data)["layers"]  # type: ignore[no-any-return]


async def test_legacy_signature_of_a_tag_is_stored_at_the_digest_sig_tag_and_verifies() -> None:
    registry = InMemoryRegistry(referrers_api=False)
    image = push_image(registry, "v1")
    key = _key()
    outcome = await sign_image(registry, by_tag("v1"), key)
    assert outcome.digest == image.digest and outcome.added
    assert outcome.reference.digest == image.digest
    layers = _sig_layers(registry, image.digest.signature_tag)
    assert len(layers) == 1
    payload = json.loads(await registry.fetch_blob(REPO, _descriptor(layers[0]), 10_000))
    assert payload == {
        "critical": {
            "identity": {"docker-reference": "registry.test/team/app"},
            "image": {"docker-manifest-digest": str(image.digest)},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(key.public))
    assert [(v.format, v.key_fingerprint) for v in verdict.verified] == [(V2, key.public.fingerprint)]


async def test_signing_again_with_the_same_key_adds_nothing() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    key = _key()
    await sign_image(registry, by_tag("v1"), key)
    again = await sign_image(registry, by_tag("v1"), key)
    assert not again.added
    assert len(_sig_layers(registry, image.digest.signature_tag)) == 1


async def test_a_second_key_appends_a_layer_and_both_keys_verify() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    first, second = _key("a.key"), _key("b.key", ed25519.Ed25519PrivateKey.generate())
    await sign_image(registry, by_tag("v1"), first)
    await sign_image(registry, by_tag("v1"), second)
    layers = _sig_layers(registry, image.digest.signature_tag)
    assert len(layers) == 2
    assert all(SIGNATURE_ANNOTATION in layer["annotations"] for layer in layers)  # type: ignore[operator]
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(first.public, second.public))
    assert {v.key_fingerprint for v in verdict.verified} == {
        first.public.fingerprint,
        second.public.fingerprint,
    }


async def test_annotations_are_signed_into_the_optional_section() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    await sign_image(registry, by_tag("v1"), _key(), annotations={"team": "payments"})
    layer = _sig_layers(registry, image.digest.signature_tag)[0]
    payload = json.loads(await registry.fetch_blob(REPO, _descriptor(layer), 10_000))
    assert payload["optional"] == {"team": "payments"}


@pytest.mark.parametrize("referrers_api", [False, True])
async def test_bundle_is_a_referrer_with_the_fallback_index_only_without_the_api(referrers_api: bool) -> None:
    registry = InMemoryRegistry(referrers_api=referrers_api)
    image = push_image(registry, "v1")
    key = _key()
    outcome = await sign_image(registry, by_tag("v1"), key, bundle=True, clock=ManualClock(CREATED))
    assert outcome.format is V3 and outcome.fallback_index is not referrers_api
    index = registry.get_manifest(REPO, image.digest.tag_prefix)
    assert (index is not None) is not referrers_api
    assert registry.get_manifest(REPO, image.digest.signature_tag) is None  # no v2 signature written
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(key.public))
    assert [v.format for v in verdict.verified] == [V3]


async def test_bundle_carries_the_key_hint_the_cosign_predicate_and_no_tlog_entries() -> None:
    registry = InMemoryRegistry(referrers_api=False)
    image = push_image(registry, "v1")
    key = _key()
    await sign_image(registry, by_tag("v1"), key, bundle=True, clock=ManualClock(CREATED))
    index = parse_index(registry.get_manifest(REPO, image.digest.tag_prefix) or b"")
    manifest = await registry.fetch_manifest(REPO, index[0].digest)
    assert manifest is not None
    document = json.loads(manifest.data)
    assert document["subject"] == {
        "mediaType": image.media_type,
        "digest": str(image.digest),
        "size": image.size,
    }
    assert document["annotations"]["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    bundle = json.loads(await registry.fetch_blob(REPO, _descriptor(document["layers"][0]), 100_000))
    assert bundle["mediaType"] == BUNDLE_V03_MEDIA_TYPE
    assert bundle["verificationMaterial"] == {"publicKey": {"hint": key.public.hint}}
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == COSIGN_SIGN_PREDICATE
    assert statement["subject"][0]["digest"] == {"sha256": image.digest.hex}


async def test_a_second_bundle_is_appended_to_the_fallback_index() -> None:
    registry = InMemoryRegistry(referrers_api=False)
    image = push_image(registry, "v1")
    first, second = _key("a.key"), _key("b.key", ec.generate_private_key(ec.SECP384R1()))
    await sign_image(registry, by_tag("v1"), first, bundle=True, clock=ManualClock(CREATED))
    await sign_image(registry, by_tag("v1"), second, bundle=True, clock=ManualClock(CREATED))
    assert len(parse_index(registry.get_manifest(REPO, image.digest.tag_prefix) or b"")) == 2
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(first.public, second.public))
    assert {v.key_fingerprint for v in verdict.verified} == {
        first.public.fingerprint,
        second.public.fingerprint,
    }


async def test_signing_a_digest_reference_needs_no_tag() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    ref = ImageRef(REPO, None, image.digest)
    outcome = await sign_image(registry, ref, _key(), bundle=True, clock=ManualClock(CREATED))
    assert outcome.reference.pinned() == f"{REPO}@{image.digest}"


def test_docker_hub_references_are_spelt_as_cosign_spells_them() -> None:
    assert docker_reference(Repository("docker.io", "library/nginx")) == "index.docker.io/library/nginx"
    assert docker_reference(Repository("127.0.0.1:5000", "demo")) == "127.0.0.1:5000/demo"


def _descriptor(raw: object) -> Descriptor:
    return parse_descriptor(raw, "test layer")
