"""The webhook's verdict cache: positive verdicts only, bounded, expiring; and what it saves over HTTPS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.core.digests import Digest
from app.core.references import parse_reference
from app.core.verification.verdicts import ImageVerdict, SignatureFormat, VerifiedSignature
from app.webhook.cache import TtlVerdictCache
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.support.fault_proxy import FaultProxy
from tests.webhook.reviews import review

REF = parse_reference("registry.example.com/a:1")
SIGNED = ImageVerdict(
    REF, Digest.of(b"a"), (VerifiedSignature(SignatureFormat.COSIGN_V2_SIG_TAG, "sha256:f", "k", "l"),), ()
)
UNSIGNED = ImageVerdict(REF, Digest.of(b"a"), (), ())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_verdict_is_kept_until_it_expires() -> None:
    clock = Clock()
    cache = TtlVerdictCache(60, 10, clock)
    cache.put("k", SIGNED)
    clock.now = 59.9
    assert cache.get("k") is SIGNED
    clock.now = 60.0
    assert cache.get("k") is None and len(cache) == 0


def test_a_verdict_without_a_verified_signature_is_never_kept() -> None:
    cache = TtlVerdictCache(60, 10, Clock())
    cache.put("k", UNSIGNED)
    cache.put("other", "not a verdict")
    assert cache.get("k") is None and len(cache) == 0


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = TtlVerdictCache(60, 2, Clock())
    cache.put("a", SIGNED)
    cache.put("b", SIGNED)
    cache.get("a")
    cache.put("c", SIGNED)
    assert cache.get("b") is None and cache.get("a") is SIGNED and cache.get("c") is SIGNED


@pytest.fixture
def proxy(plain_registry: TestRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(plain_registry.host) as running:
        yield running


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
    key = {"file": str(key_pairs["ecdsa-p256"].public)}
    webhook = start_webhook(
        {
            "registries": {"insecure": [proxy.host]},
            "policies": [
                {
                    "name": "cached",
                    "images": [f"{proxy.host}/cached/**"],
                    "keys": [key],
                    "transparencyLog": "ignore",
                }
            ],
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
    for _ in range(2):  # a deny is not cached: every review looks for signatures again
        proxy.seen.clear()
        assert webhook.post(review([("app", unsigned)])).json()["response"]["allowed"] is False
        assert any(".sig" in s.path for s in proxy.seen)
