"""Stampedes and floods cost the registry little and never delay a cached answer.

Through the counting fault proxy in front of the real registry: 100 concurrent reviews of one cold
image cost at most two verifications' requests (concurrent verifications and tag resolutions are
shared), and so do 50 of an unsigned one (its complete deny is then remembered a few seconds). A
popular verdict is verified again before it expires, so the review after its expiry is still answered
from the cache. While 100 connections keep sending an unsigned image, reviews of a cached signed
image stay fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair
from tests.fixtures.webhook import WebhookStarter
from tests.reliability.conftest import lane_config, push_signed
from tests.support.fault_proxy import FaultProxy
from tests.support.load import post_reviews, start_flood
from tests.support.served import ServedWebhook
from tests.webhook.reviews import review

pytestmark = pytest.mark.reliability


def through(proxy: FaultProxy, image: str) -> str:
    return f"{proxy.host}/{image.split('/', 1)[1]}"


def requests_for_one_review(
    start_webhook: WebhookStarter, proxy: FaultProxy, config: dict[str, Any], image: str
) -> int:
    """What one review of `image` costs a fresh webhook (no cache), in requests through the proxy."""
    proxy.seen.clear()
    start_webhook(config).post(review([("app", image)]))
    return len(proxy.seen)


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_a_hundred_concurrent_reviews_of_one_cold_image_cost_at_most_two_verifications(
    start_webhook: WebhookStarter,
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
    signed: bool,
) -> None:
    key = key_pairs["ecdsa-p256"]
    if signed:
        (image,) = push_signed(plain_registry, key, "lane/stampede", 1, bundle_every=1)
    else:
        push_image(plain_registry, "lane/stampede-unsigned", "1", content=b"stampede unsigned")
        image = f"{plain_registry.host}/lane/stampede-unsigned:1"
    image, config = through(proxy, image), lane_config(proxy.host, key)
    one = requests_for_one_review(start_webhook, proxy, config, image)
    webhook = start_webhook(config)
    proxy.seen.clear()
    proxy.add(".", "delay", 0.05)  # every request a little slow: the reviews overlap
    bodies = [review([("app", image)]) for _ in range(100)]
    answers = asyncio.run(post_reviews(webhook.url, webhook.ca_file, bodies))
    assert {a.allowed for a in answers} == {signed}, {a.message for a in answers}
    assert len(proxy.seen) <= 2 * one, f"{len(proxy.seen)} requests for 100 reviews, {one} for one"


def test_a_popular_verdict_is_verified_again_before_it_expires_so_no_review_waits_for_it(
    start_webhook: WebhookStarter,
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
) -> None:
    (image,) = push_signed(plain_registry, key_pairs["ecdsa-p256"], "lane/popular", 1)
    image = through(proxy, image)
    ttl = 6.0  # refreshed in its last quarter: from 4.5 s on
    webhook = start_webhook(
        lane_config(proxy.host, key_pairs["ecdsa-p256"], verdictCache={"ttlSeconds": ttl})
    )
    proxy.add(r"\.sig|/referrers/|/blobs/", "delay", 0.5)  # signature reads are slow
    body = review([("app", image)])
    assert webhook.post(body).json()["response"]["allowed"] is True
    cached_at = time.monotonic()  # (a little after the verdict was stored)
    time.sleep(ttl * 0.8 - (time.monotonic() - cached_at))
    proxy.seen.clear()
    assert webhook.post(body).json()["response"]["allowed"] is True  # from the cache …
    time.sleep(1.2)
    assert any(".sig" in s.path for s in proxy.seen)  # … and verified again behind it
    time.sleep(max(0.0, ttl + 0.5 - (time.monotonic() - cached_at)))  # the first verdict has expired
    proxy.seen.clear()
    started = time.monotonic()
    assert webhook.post(body).json()["response"]["allowed"] is True
    assert [s.method for s in proxy.seen] == ["HEAD"], [s.path for s in proxy.seen]  # the tag only
    assert time.monotonic() - started < 0.5


def test_cached_signed_reviews_stay_fast_while_a_hundred_connections_send_an_unsigned_image(
    serve: Callable[[dict[str, Any]], ServedWebhook],
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
) -> None:
    key = key_pairs["ecdsa-p256"]
    (signed,) = push_signed(plain_registry, key, "lane/warm", 1, by_digest=True)  # no registry once cached
    push_image(plain_registry, "lane/flood-unsigned", "1", content=b"flood unsigned")
    webhook = serve(lane_config(proxy.host, key))
    warm = review([("app", through(proxy, signed))])
    assert asyncio.run(post_reviews(webhook.url, webhook.ca_file, [warm]))[0].allowed is True
    proxy.add(".", "delay", 0.3)  # a slow registry: verifying the unsigned image takes a while
    flood = review([("app", f"{proxy.host}/lane/flood-unsigned:1")])
    stop_flood = start_flood(webhook.url, webhook.ca_file, flood, connections=100)
    try:
        time.sleep(1.0)  # the flood is on
        answers = [asyncio.run(post_reviews(webhook.url, webhook.ca_file, [warm]))[0] for _ in range(15)]
    finally:
        stop_flood()
    assert all(a.allowed is True for a in answers), [a.message for a in answers]
    slowest = max(a.seconds for a in answers)
    assert slowest < 1.0, f"a cached review took {slowest:.2f} s during the flood"
    flooded = [r for r in webhook.audit() if "lane/flood-unsigned" in str(r)]
    assert len(flooded) > 100  # the flood was real
