"""How `Verifier` spends registry work under load: concurrent verifications of one image share one
run, a cached verdict is answered at once and refreshed in the background before it expires, and a
complete deny is remembered as long as the cache says."""

from __future__ import annotations

import asyncio

from app.core.verification.verifier import Verifier
from app.webhook.cache import TtlVerdictCache
from tests.core.signers import by_digest, by_tag, ecdsa, push_image, sign_v2, unlogged
from tests.fakes import InMemoryRegistry, ManualClock

ALICE = ecdsa("alice")
SIG_OBJECT_CALLS = ("fetch_manifest", "list_referrers", "fetch_blob")


async def test_fifty_concurrent_verifications_of_one_image_cost_one_verifications_requests() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    await Verifier(registry).verify(by_digest(image.digest), unlogged(ALICE.key))
    alone = registry.count(*SIG_OBJECT_CALLS)
    registry.calls.clear()
    verifier = Verifier(registry)
    verdicts = await asyncio.gather(*(verifier.verify(by_tag("v1"), unlogged(ALICE.key)) for _ in range(50)))
    assert all(v.ok for v in verdicts)
    assert registry.count(*SIG_OBJECT_CALLS) == alone
    assert {str(v.reference) for v in verdicts} == {"registry.test/team/app:v1"}


async def test_a_verification_shared_with_another_reference_is_told_for_each_callers_reference() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    verifier = Verifier(registry)
    by_name, pinned = await asyncio.gather(
        verifier.verify(by_tag("v1"), unlogged(ALICE.key)),
        verifier.verify(by_digest(image.digest), unlogged(ALICE.key)),
    )
    assert by_name.reference == by_tag("v1") and pinned.reference == by_digest(image.digest)
    assert registry.count("fetch_manifest") == 1  # the .sig manifest, once


async def test_a_verdict_about_to_expire_is_answered_from_the_cache_and_verified_again_behind_it() -> None:
    registry, clock = InMemoryRegistry(), ManualClock()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    cache = TtlVerdictCache(60, 100, clock)
    verifier = Verifier(registry, cache)
    ref = by_digest(image.digest)
    await verifier.verify(ref, unlogged(ALICE.key))
    registry.calls.clear()
    clock.advance(30)
    assert (await verifier.verify(ref, unlogged(ALICE.key))).ok
    await asyncio.sleep(0.01)
    assert registry.count(*SIG_OBJECT_CALLS) == 0  # mid-life: from the cache, nothing else
    clock.advance(20)  # 10 s left: in the last quarter
    assert (await verifier.verify(ref, unlogged(ALICE.key))).ok  # answered at once …
    await asyncio.sleep(0.01)
    assert registry.count(*SIG_OBJECT_CALLS) > 0  # … and verified again behind it
    registry.calls.clear()
    clock.advance(20)  # past the first verdict's life: the refreshed one answers
    assert (await verifier.verify(ref, unlogged(ALICE.key))).ok
    await asyncio.sleep(0.01)
    assert registry.count(*SIG_OBJECT_CALLS) == 0


async def test_a_complete_deny_is_remembered_for_the_negative_ttl_then_looked_up_again() -> None:
    registry, clock = InMemoryRegistry(), ManualClock()
    image = push_image(registry, "v1")
    verifier = Verifier(registry, TtlVerdictCache(60, 100, clock, negative_ttl_seconds=5))
    ref = by_digest(image.digest)
    assert not (await verifier.verify(ref, unlogged(ALICE.key))).ok
    sign_v2(registry, image.digest, ALICE)  # a signature pushed right after the deny …
    registry.calls.clear()
    clock.advance(4.9)
    assert not (await verifier.verify(ref, unlogged(ALICE.key))).ok  # … is not seen while the deny is kept
    assert registry.count(*SIG_OBJECT_CALLS) == 0
    clock.advance(0.1)
    assert (await verifier.verify(ref, unlogged(ALICE.key))).ok  # … and counts once it expired
