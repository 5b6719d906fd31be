"""The trust decision of tag resolution, as the README states it, over HTTPS against the real registry.

A tag is resolved by `HEAD` alone (its `Docker-Content-Digest`; Docker Hub does not count HEADs against
its pull limits), so the registry's word is what is verified. What a registry that lies about the tag
can do is bounded: it can name another manifest that carries a trusted signature, never an unsigned
one, and with `/mutate` pinning the pod is rewritten to exactly the digest that was verified. The
registry is the real `docker-registry` behind the fault-injecting proxy, which rewrites the digest
header of the tag's `HEAD`.
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
TAG_HEAD = r"^HEAD /v2/resolution/app/manifests/1$"


@pytest.fixture(scope="module")
def digests(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> dict[str, str]:
    """`resolution/app` with tags 1 and 2 (signed) and 3 (unsigned): tag → digest."""
    found = {}
    for tag, signed in (("1", True), ("2", True), ("3", False)):
        found[tag] = str(push_image(plain_registry, "resolution/app", tag, content=f"release {tag}".encode()))
        if signed:
            image = f"{plain_registry.host}/resolution/app:{tag}"
            sign_image(image, key_pairs[KEY], ["--insecure-registry", plain_registry.host])
    return found


@pytest.fixture
def webhook(
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
) -> RunningWebhook:
    return start_webhook(
        {
            "registries": {"insecure": [proxy.host]},
            "verdictCache": {"ttlSeconds": 0},
            "policies": [key_policy("app", f"{proxy.host}/resolution/**", key_pairs[KEY])],
        }
    )


def ask(webhook: RunningWebhook, body: dict[str, Any], path: str = "/validate") -> dict[str, Any]:
    reply = webhook.post(body, path=path)
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    return response


def test_a_tag_is_resolved_by_one_head_and_its_manifest_is_never_fetched(
    webhook: RunningWebhook, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    assert ask(webhook, review([("app", f"{proxy.host}/resolution/app:1")]))["allowed"] is True
    assert webhook.audit[-1]["images"][0]["digest"] == digests["1"]
    on_tag = [(s.method, s.path) for s in proxy.seen if s.path == "/v2/resolution/app/manifests/1"]
    assert on_tag == [("HEAD", "/v2/resolution/app/manifests/1")]


def test_a_registry_lying_about_a_tag_gets_the_signed_manifest_it_names_verified_and_pinned(
    webhook: RunningWebhook, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    proxy.add(TAG_HEAD, "digest_header", digests["2"])
    body = review([("app", f"{proxy.host}/resolution/app:1")])
    assert ask(webhook, body)["allowed"] is True
    assert webhook.audit[-1]["images"][0]["digest"] == digests["2"]  # the registry's word was verified
    response = ask(webhook, body, "/mutate")
    patch = json.loads(base64.b64decode(response["patch"]))
    pinned = rfc6902.apply_patch(body["request"]["object"], patch)["spec"]["containers"][0]["image"]
    assert pinned == f"{proxy.host}/resolution/app@{digests['2']}"  # and is exactly what the pod runs


def test_a_registry_lying_about_a_tag_cannot_name_an_unsigned_manifest(
    webhook: RunningWebhook, proxy: FaultProxy, digests: dict[str, str]
) -> None:
    proxy.add(TAG_HEAD, "digest_header", digests["3"])
    response = ask(webhook, review([("app", f"{proxy.host}/resolution/app:1")]))
    assert response["allowed"] is False
    assert webhook.audit[-1]["images"][0]["digest"] == digests["3"]
