"""The webhook's verdict cache: bounded, expiring (a deny much sooner), refreshed before a popular
verdict expires; and what it saves over HTTPS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.digests import Digest
from app.core.references import parse_reference
from app.core.verification.verdicts import ImageVerdict, SignatureFormat, VerifiedSignature
from app.webhook.cache import TtlVerdictCache
from tests.fakes import ManualClock
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.support.fault_proxy import FaultProxy
from tests.webhook.reviews import review

REF = parse_reference("registry.example.com/a:1")
SIGNED = ImageVerdict(
    REF, Digest.of(b"a"), (VerifiedSignature(SignatureFormat.COSIGN_V2_SIG_TAG, "sha256:f", "k", "l"),), ()
)
UNSIGNED = ImageVerdict(REF, Digest.of(b"a"), (), ())


def test_a_verified_verdict_is_kept_until_it_expires() -> None:
    clock = ManualClock()
    cache = TtlVerdictCache(60, 10, clock)
    cache.put("k", SIGNED)
    clock.advance(59.9)
    assert cache.get("k") is SIGNED
    clock.advance(0.1)
    assert cache.get("k") is None and len(cache) == 0


def test_a_verdict_without_a_verified_signature_is_kept_only_for_the_negative_ttl() -> None:
    clock = ManualClock()
    cache = TtlVerdictCache(60, 10, clock, negative_ttl_seconds=5)
    cache.put("k", UNSIGNED)
    cache.put("other", "not a verdict")
    assert cache.get("k") is UNSIGNED and cache.get("other") is None
    clock.advance(5)
    assert cache.get("k") is None and len(cache) == 0


def test_without_a_negative_ttl_a_deny_is_never_kept() -> None:
    cache = TtlVerdictCache(60, 10, ManualClock())
    cache.put("k", UNSIGNED)
    assert cache.get("k") is None and len(cache) == 0


def test_a_verified_verdict_is_due_for_a_refresh_in_its_last_quarter_and_a_deny_never() -> None:
    clock = ManualClock()
    cache = TtlVerdictCache(60, 10, clock, negative_ttl_seconds=30)
    cache.put("signed", SIGNED)
    cache.put("unsigned", UNSIGNED)
    clock.advance(44.9)
    assert not cache.refresh_due("signed") and not cache.refresh_due("missing")
    clock.advance(0.1)
    assert cache.refresh_due("signed") and not cache.refresh_due("unsigned")
    cache.put("signed", SIGNED)  # refreshed: a whole life again
    assert not cache.refresh_due("signed")


def test_a_long_lived_verdict_is_refreshed_at_most_thirty_seconds_before_it_expires() -> None:
    clock = ManualClock()
    cache = TtlVerdictCache(600, 10, clock)
    cache.put("k", SIGNED)
    clock.advance(569.9)
    assert not cache.refresh_due("k")
    clock.advance(0.1)
    assert cache.refresh_due("k")


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = TtlVerdictCache(60, 2, ManualClock())
    cache.put("a", SIGNED)
    cache.put("b", SIGNED)
    cache.get("a")
    cache.put("c", SIGNED)
    assert cache.get("b") is None and cache.get("a") is SIGNED and cache.get("c") is SIGNED


def test_a_second_review_of_a_signed_image_only_resolves_its_tag(
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
) -> None:
    push_image(plain_registry, "cached/app", "1", content=b"cached")
    sign_image(
        f"{plain_registry.host}/cached/app:1",
        key_pairs["ecdsa-p256"],
        ["--insecure-registry", plain_registry.host],
    )
    unsigned = f"{proxy.host}/cached/unsigned:1"
    push_image(plain_registry, "cached/unsigned", "1", content=b"unsigned")
    webhook = start_webhook(
        {
            "registries": {"insecure": [proxy.host]},
            "policies": [key_policy("cached", f"{proxy.host}/cached/**", key_pairs["ecdsa-p256"])],
        }
    )
    body = review([("app", f"{proxy.host}/cached/app:1")])
    requests = []
    for _ in range(2):
        proxy.seen.clear()
        assert webhook.post(body).json()["response"]["allowed"] is True
        requests.append([(s.method, s.path) for s in proxy.seen])
    assert len(requests[0]) > 1
    assert requests[1] == [("HEAD", "/v2/cached/app/manifests/1")]  # the tag is still resolved each time
    seen = []
    for _ in range(2):  # a complete deny is remembered a few seconds (verdictCache.negativeTtlSeconds)
        proxy.seen.clear()
        assert webhook.post(review([("app", unsigned)])).json()["response"]["allowed"] is False
        seen.append([(s.method, s.path) for s in proxy.seen])
    assert any(".sig" in path for _, path in seen[0])
    assert seen[1] == [("HEAD", "/v2/cached/unsigned/manifests/1")]


def test_without_a_negative_ttl_every_review_of_an_unsigned_image_looks_for_signatures_again(
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
) -> None:
    push_image(plain_registry, "cached/unsigned-again", "1", content=b"unsigned again")
    key = {"file": str(key_pairs["ecdsa-p256"].public)}
    webhook = start_webhook(
        {
            "registries": {"insecure": [proxy.host]},
            "verdictCache": {"negativeTtlSeconds": 0},
            "policies": [{"name": "cached", "images": [f"{proxy.host}/cached/**"], "keys": [key]}],
        }
    )
    for _ in range(2):
        proxy.seen.clear()
        body = review([("app", f"{proxy.host}/cached/unsigned-again:1")])
        assert webhook.post(body).json()["response"]["allowed"] is False
        assert any(".sig" in s.path for s in proxy.seen)
