"""How `Verifier` fails: registry errors never read as "unsigned", verdicts are cached and errors not."""

from __future__ import annotations

import json

import pytest

from app.core.digests import Digest
from app.core.errors import (
    ConfigError,
    ImageNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryTimeout,
    RegistryUnavailable,
)
from app.core.formats import layouts
from app.core.formats.simplesigning import SIMPLESIGNING_MEDIA_TYPE
from app.core.ports import OCI_MANIFEST
from app.core.references import ImageRef, Repository
from app.core.verification.verifier import Verifier, VerifyOptions
from tests.core.signers import REPO, by_digest, by_tag, ecdsa, push_image, sign_v2, sign_v3, unlogged
from tests.fakes import DictCache, InMemoryRegistry

ALICE, BOB = ecdsa("alice"), ecdsa("bob")
SIG_OBJECT_CALLS = ("fetch_manifest", "list_referrers", "fetch_blob")


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("resolve", ImageNotFound("registry.test/team/app:v1 not found")),
        ("resolve", RegistryUnavailable("registry.test is unavailable: 503")),
        ("resolve", RegistryAuthError("registry.test refused our credentials")),
    ],
)
async def test_image_resolution_failures_raise(operation: str, error: RegistryError) -> None:
    registry = InMemoryRegistry()
    push_image(registry, "v1")
    registry.fail(operation, error)
    with pytest.raises(type(error)) as raised:
        await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert raised.value is error


async def test_a_tag_that_does_not_exist_raises_image_not_found() -> None:
    with pytest.raises(ImageNotFound):
        await Verifier(InMemoryRegistry()).verify(by_tag("missing"), unlogged(ALICE.key))


async def test_an_empty_key_set_is_an_error_not_a_pass() -> None:
    registry = InMemoryRegistry()
    push_image(registry, "v1")
    with pytest.raises(ConfigError):
        await Verifier(registry).verify(by_tag("v1"), unlogged())


@pytest.mark.parametrize(
    ("operation", "reference"),
    [
        ("fetch_manifest", ".sig"),
        ("list_referrers", None),
        ("fetch_blob", None),
        ("fetch_manifest", "sha256:"),
    ],
    ids=["sig-manifest", "referrers", "blobs", "referrer-manifest"],
)
@pytest.mark.parametrize("referrers_api", [True, False], ids=["referrers-api", "fallback-index"])
async def test_transient_error_fetching_signatures_propagates_and_is_not_cached(
    operation: str, reference: str | None, referrers_api: bool
) -> None:
    registry, cache = InMemoryRegistry(referrers_api=referrers_api), DictCache()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, BOB)  # signed, but not by a trusted key: nothing verifies
    sign_v3(registry, image, BOB)
    registry.fail(operation, RegistryTimeout("registry.test timed out"), reference=reference)
    verifier = Verifier(registry, cache)
    with pytest.raises(RegistryTimeout):
        await verifier.verify(by_tag("v1"), unlogged(ALICE.key))
    assert cache.entries == {}
    registry.heal()
    verdict = await verifier.verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok and len(verdict.rejected) == 2 and len(cache.entries) == 1


async def test_transient_error_after_a_signature_verified_keeps_it_and_is_not_cached() -> None:
    registry, cache = InMemoryRegistry(), DictCache()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    sign_v3(registry, image, BOB)
    registry.fail("list_referrers", RegistryUnavailable("registry.test is unavailable: 503"))
    verdict = await Verifier(registry, cache).verify(by_tag("v1"), unlogged(ALICE.key, BOB.key))
    assert [v.signer_label for v in verdict.verified] == ["alice"]
    assert [r.reason for r in verdict.rejected] == ["not checked: registry.test is unavailable: 503"]
    assert cache.entries == {}


async def test_cache_hit_makes_no_signature_or_blob_calls() -> None:
    registry, cache = InMemoryRegistry(), DictCache()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    sign_v3(registry, image, ALICE)
    verifier = Verifier(registry, cache)
    first = await verifier.verify(by_digest(image.digest), unlogged(ALICE.key))
    cold_calls = registry.count(*SIG_OBJECT_CALLS)
    second = await verifier.verify(by_digest(image.digest), unlogged(ALICE.key))
    assert cold_calls > 0 and registry.count(*SIG_OBJECT_CALLS) == cold_calls
    assert first == second and cache.hits == 1


async def test_cache_hit_still_resolves_a_tag_because_tags_move() -> None:
    registry, cache = InMemoryRegistry(), DictCache()
    signed = push_image(registry, "v1", content="old")
    sign_v2(registry, signed.digest, ALICE)
    verifier = Verifier(registry, cache)
    assert (await verifier.verify(by_tag("v1"), unlogged(ALICE.key))).ok
    push_image(registry, "v1", content="new")
    moved = await verifier.verify(by_tag("v1"), unlogged(ALICE.key))
    assert not moved.ok and registry.count("resolve") == 2 and cache.hits == 0


async def test_cache_is_keyed_by_keys_options_and_repository() -> None:
    registry, cache = InMemoryRegistry(), DictCache()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    verifier = Verifier(registry, cache)
    assert (await verifier.verify(by_tag("v1"), unlogged(ALICE.key))).ok
    assert not (await verifier.verify(by_tag("v1"), unlogged(BOB.key))).ok
    other_options = Verifier(registry, cache, VerifyOptions(accepted_predicate_types=frozenset()))
    assert (await other_options.verify(by_tag("v1"), unlogged(ALICE.key))).ok
    elsewhere = ImageRef(Repository("registry.test", "other/app"), digest=image.digest)
    assert not (await verifier.verify(elsewhere, unlogged(ALICE.key))).ok
    assert cache.hits == 0 and len(cache.entries) == 4


async def test_cached_verdict_is_told_for_the_reference_and_key_names_of_the_caller() -> None:
    registry, cache = InMemoryRegistry(), DictCache()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    verifier = Verifier(registry, cache)
    await verifier.verify(by_tag("v1"), unlogged(ALICE.key))
    renamed = ALICE.key.__class__(
        name="k8s://ns/alice", fingerprint=ALICE.key.fingerprint, key=ALICE.key.key, der=ALICE.key.der
    )
    again = await verifier.verify(by_digest(image.digest), unlogged(renamed))
    assert cache.hits == 1 and again.reference == by_digest(image.digest)
    assert [v.signer_label for v in again.verified] == ["k8s://ns/alice"]


async def test_a_cold_image_costs_three_sequential_round_trips_for_v2_signatures() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    sign_v2(registry, image.digest, BOB, payload=b'{"other": "payload"}')
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key, BOB.key))
    # resolve the tag → the .sig manifest ∥ the referrers → both payload blobs in parallel
    assert len(verdict.verified) == 1 and registry.count("fetch_blob") == 2
    assert registry.rounds == 3


async def test_a_cold_image_by_digest_costs_three_sequential_round_trips_for_v3_bundles() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v3(registry, image, ALICE)
    sign_v3(registry, image, BOB)
    sign_v2(registry, image.digest, ALICE)
    verdict = await Verifier(registry).verify(by_digest(image.digest), unlogged(ALICE.key, BOB.key))
    # a digest needs no resolve → the referrers ∥ .sig → the referrer manifests ∥ payload → the bundles
    assert len(verdict.verified) == 3 and registry.rounds == 3


async def test_too_many_signature_layers_are_rejected_without_fetching_them() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    for _ in range(4):
        sign_v2(registry, image.digest, BOB)
    verdict = await Verifier(registry, options=VerifyOptions(max_signatures=3)).verify(
        by_tag("v1"), unlogged(ALICE.key)
    )
    assert [r.reason for r in verdict.rejected] == ["4 signature layers, more than the 3 allowed"]
    assert registry.count("fetch_blob") == 0


async def test_a_sig_manifest_with_thousands_of_layers_is_refused_before_its_layers_are_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    layer = {"mediaType": SIMPLESIGNING_MEDIA_TYPE, "size": 2, "digest": str(Digest.of(b"{}"))}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [layer] * 10_000}
    registry.put_manifest(REPO, json.dumps(manifest).encode(), OCI_MANIFEST, image.digest.signature_tag)
    parsed: list[object] = []
    real = layouts.parse_descriptor
    monkeypatch.setattr(
        layouts, "parse_descriptor", lambda raw, where: parsed.append(raw) or real(raw, where)
    )
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert [r.reason for r in verdict.rejected] == ["10000 signature layers, more than the 100 allowed"]
    assert parsed == [] and registry.count("fetch_blob") == 0


async def test_a_listed_referrer_that_is_missing_is_rejected() -> None:
    registry = InMemoryRegistry(referrers_api=False)
    image = push_image(registry, "v1")
    ghost = Digest.of(b"gone")
    index = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":'
        f'[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{ghost}","size":4}}]}}'
    )
    registry.put_manifest(
        REPO, index.encode(), "application/vnd.oci.image.index.v1+json", image.digest.tag_prefix
    )
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert [r.reason for r in verdict.rejected] == ["referrer manifest is listed but missing"]


async def test_a_referrer_listed_twice_in_the_fallback_index_counts_once() -> None:
    registry = InMemoryRegistry(referrers_api=False)
    image = push_image(registry, "v1")
    sign_v3(registry, image, ALICE)
    index = registry.get_manifest(REPO, image.digest.tag_prefix)
    assert index is not None
    document = json.loads(index)
    document["manifests"] *= 2
    registry.put_manifest(
        REPO,
        json.dumps(document).encode(),
        "application/vnd.oci.image.index.v1+json",
        image.digest.tag_prefix,
    )
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert len(verdict.verified) == 1 and registry.count("fetch_blob") == 1
