"""Tag resolutions reused where that is safe, over HTTPS against the real registry (behind the proxy,
which counts the `HEAD`s on the tag and can make the tag name another manifest).

`/mutate` pins each verified image to the digest it verified, so it may reuse a resolution
`registries.tagReuseSeconds` old: a tag moved meanwhile only delays the new digest, and the pod runs
what was verified. `/validate` asks the registry every time unless `tagReuseOnValidate` is on. A
resolution that failed is never kept.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.support.fault_proxy import FaultProxy
from tests.webhook import rfc6902
from tests.webhook.reviews import review

KEY = "ecdsa-p256"
TAG_HEAD = r"^HEAD /v2/reuse/app/manifests/1$"


@pytest.fixture(scope="module")
def digests(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> dict[str, str]:
    """`reuse/app` with tags 1 and 2, both signed: tag → digest."""
    found = {}
    for tag in ("1", "2"):
        found[tag] = str(push_image(plain_registry, "reuse/app", tag, content=f"reuse {tag}".encode()))
        image = f"{plain_registry.host}/reuse/app:{tag}"
        sign_image(image, key_pairs[KEY], ["--insecure-registry", plain_registry.host])
    return found


Start = Callable[..., RunningWebhook]


@pytest.fixture
def start(
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
) -> Start:
    def started(**registries: Any) -> RunningWebhook:
        policy = key_policy("app", f"{proxy.host}/reuse/**", key_pairs[KEY])
        return start_webhook({"registries": {"insecure": [proxy.host], **registries}, "policies": [policy]})

    return started


def heads(proxy: FaultProxy) -> int:
    return sum(1 for s in proxy.seen if s.method == "HEAD" and s.path == "/v2/reuse/app/manifests/1")


def pinned(webhook: RunningWebhook, body: dict[str, Any]) -> str:
    response = webhook.post(body, path="/mutate").json()["response"]
    patch = json.loads(base64.b64decode(response["patch"]))
    image: str = rfc6902.apply_patch(body["request"]["object"], patch)["spec"]["containers"][0]["image"]
    return image


def test_mutate_reuses_a_recent_resolution_and_pins_the_digest_it_verified(
    start: Start, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    webhook = start(tagReuseSeconds=60)
    body = review([("app", f"{proxy.host}/reuse/app:1")])
    assert pinned(webhook, body) == f"{proxy.host}/reuse/app@{digests['1']}"
    assert heads(proxy) == 1
    proxy.add(TAG_HEAD, "digest_header", digests["2"])  # the tag moves
    for _ in range(3):
        assert pinned(webhook, body) == f"{proxy.host}/reuse/app@{digests['1']}"  # what was verified
    assert heads(proxy) == 1


def test_validate_asks_the_registry_every_time_by_default(
    start: Start, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    webhook = start(tagReuseSeconds=60)
    body = review([("app", f"{proxy.host}/reuse/app:1")])
    pinned(webhook, body)
    proxy.add(TAG_HEAD, "digest_header", digests["2"])  # the tag moves
    for _ in range(2):
        assert webhook.post(body).json()["response"]["allowed"] is True
        assert webhook.audit[-1]["images"][0]["digest"] == digests["2"]  # the tag as it is now
    assert heads(proxy) == 3


def test_validate_reuses_too_when_the_operator_turns_it_on(
    start: Start, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    webhook = start(tagReuseSeconds=60, tagReuseOnValidate=True)
    body = review([("app", f"{proxy.host}/reuse/app:1")])
    assert webhook.post(body).json()["response"]["allowed"] is True
    proxy.add(TAG_HEAD, "digest_header", digests["2"])
    assert webhook.post(body).json()["response"]["allowed"] is True
    assert webhook.audit[-1]["images"][0]["digest"] == digests["1"]  # the window the README describes
    assert heads(proxy) == 1


def test_no_reuse_when_tag_reuse_seconds_is_zero(
    start: Start, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    webhook = start(tagReuseSeconds=0)
    body = review([("app", f"{proxy.host}/reuse/app:1")])
    pinned(webhook, body)
    proxy.add(TAG_HEAD, "digest_header", digests["2"])
    assert pinned(webhook, body) == f"{proxy.host}/reuse/app@{digests['2']}"
    assert heads(proxy) == 2


def test_a_failed_resolution_is_never_reused(
    start: Start, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    webhook = start(tagReuseSeconds=60)
    body = review([("app", f"{proxy.host}/reuse/app:1")])
    proxy.add(TAG_HEAD, "status", 404, times=1)
    response = webhook.post(body, path="/mutate").json()["response"]
    assert response["allowed"] is True and "patch" not in response  # /mutate never denies; nothing pinned
    assert pinned(webhook, body) == f"{proxy.host}/reuse/app@{digests['1']}"
    assert heads(proxy) == 2
