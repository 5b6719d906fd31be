"""A burst of cold reviews is answered in time, and no burst can wedge the registry client.

200 reviews of 200 distinct cold signed images arrive at once over HTTPS at a `sigwebhook serve`
process: every one is allowed inside `deadlineSeconds` (the registry requests in flight are bounded,
so the connection pools never queue) and the client is healthy afterwards. A review that cannot get a
request slot before its answer is due is denied saying so. A pool that lost its connection slots (the
state https://github.com/encode/httpcore/issues/1093 leaves one in) is replaced and the review
allowed; `/readyz` reports a client whose new pools stall too, until an answer comes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.registry import TestRegistry
from tests.fixtures.signing import KeyPair
from tests.fixtures.webhook import WebhookStarter
from tests.reliability.conftest import lane_config, push_signed
from tests.support.fault_proxy import FaultProxy
from tests.support.load import percentile, post_reviews
from tests.support.served import ServedWebhook
from tests.webhook.reviews import review

pytestmark = pytest.mark.reliability
DEADLINE = 8.0


def test_two_hundred_concurrent_reviews_of_distinct_cold_signed_images_are_all_allowed_in_time(
    serve: Callable[[dict[str, Any]], ServedWebhook],
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    cold_images: list[str],
) -> None:
    key = key_pairs["ecdsa-p256"]
    webhook = serve(lane_config(plain_registry.host, key, deadlineSeconds=DEADLINE))
    bodies = [review([("app", image)]) for image in cold_images]
    answers = asyncio.run(post_reviews(webhook.url, webhook.ca_file, bodies))
    seconds = [a.seconds for a in answers]
    shown = f"p50 {percentile(seconds, 0.5):.2f} s, max {max(seconds):.2f} s"
    denied = [a.message for a in answers if a.allowed is not True]
    assert not denied, f"{len(denied)} of {len(answers)} denied ({shown}), e.g. {denied[:2]}"
    assert max(seconds) < DEADLINE, shown
    assert len(webhook.audit()) == len(cold_images)

    # Healthy afterwards: ready, and a new cold image is verified at once.
    assert webhook.get("/readyz") == (200, {"status": "ready"})
    (fresh,) = push_signed(plain_registry, key, "lane/after-burst", 1)
    (after,) = asyncio.run(post_reviews(webhook.url, webhook.ca_file, [review([("app", fresh)])]))
    assert after.allowed is True and after.seconds < 2.0, after


def test_a_review_that_gets_no_registry_request_slot_in_time_is_denied_naming_the_limit(
    start_webhook: WebhookStarter,
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
) -> None:
    images = [i.replace(plain_registry.host, proxy.host) for i in push_signed(
        plain_registry, key_pairs["ecdsa-p256"], "lane/one-slot", 3
    )]  # fmt: skip
    config = lane_config(
        proxy.host, key_pairs["ecdsa-p256"], deadlineSeconds=2,
        registries={"maxRequestsInFlight": 1, "timeoutSeconds": 10},
    )  # fmt: skip
    webhook = start_webhook(config)
    proxy.add(".", "delay", 1.5)  # each request holds the only slot for 1.5 s
    answer = webhook.post(review([(f"c{i}", image) for i, image in enumerate(images)])).json()["response"]
    lines = answer["status"]["message"].split("\n")
    assert answer["allowed"] is False and len(lines) == 3
    limited = [line for line in lines if "sigwebhook was already sending its limit of 1 registry" in line]
    assert len(limited) == 2, lines  # the third held the slot: its registry was just slow
    assert not any("did not answer" in line for line in limited)


class LostSlots(httpx.AsyncBaseTransport):
    """httpx's own transport with one connection, whose slot is taken by a response nobody will ever
    close before the first request goes out: the state https://github.com/encode/httpcore/issues/1093
    leaves a pool in (slots held by requests that are gone). Every request then waits for a
    connection that never comes."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1))
        self.lost: httpx.Response | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.lost is None:
            self.lost = await self.inner.handle_async_request(
                httpx.Request("GET", request.url.copy_with(path="/v2/"))
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def pools(stalled: int) -> Callable[[str, str], httpx.AsyncBaseTransport]:
    """A `Connect` whose first `stalled` pools have lost their slots; real, healthy ones after."""
    made: list[str] = []

    def connect(scheme: str, host: str) -> httpx.AsyncBaseTransport:
        made.append(host)
        return LostSlots() if len(made) <= stalled else httpx.AsyncHTTPTransport()

    return connect


def test_a_pool_that_lost_its_connection_slots_is_replaced_and_the_review_allowed(
    start_webhook: WebhookStarter,
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (image,) = push_signed(plain_registry, key_pairs["ecdsa-p256"], "lane/lost-slots", 1)
    webhook = start_webhook(
        lane_config(plain_registry.host, key_pairs["ecdsa-p256"]), registry_transport=pools(1)
    )
    with caplog.at_level(logging.WARNING, logger="app.registry.pools"):
        started = time.monotonic()
        answer = webhook.post(review([("app", image)])).json()["response"]
    assert answer == {"uid": answer["uid"], "allowed": True}, answer
    assert time.monotonic() - started < 4  # one wait for the lost slot (1 s), then a new pool
    assert "stalled" in caplog.text and "using a new connection pool" in caplog.text
    assert webhook.get("/readyz").status_code == 200


def test_readyz_reports_a_registry_client_whose_new_pool_stalls_too_until_an_answer_comes(
    start_webhook: WebhookStarter,
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
) -> None:
    (image,) = push_signed(plain_registry, key_pairs["ecdsa-p256"], "lane/stalls-again", 1)
    webhook = start_webhook(
        lane_config(plain_registry.host, key_pairs["ecdsa-p256"]), registry_transport=pools(2)
    )
    denied = webhook.post(review([("app", image)])).json()["response"]
    assert denied["allowed"] is False and "timed out" in denied["status"]["message"]
    ready = webhook.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not ready",
        "reason": f"registry connections stalled again after a new pool: http://{plain_registry.host}",
    }
    assert webhook.post(review([("app", image)])).json()["response"]["allowed"] is True  # a third pool
    assert webhook.get("/readyz").status_code == 200
