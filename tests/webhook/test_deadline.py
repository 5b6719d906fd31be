"""A slow registry: the review is answered inside the deadline, and the images of a pod are verified
concurrently. A fault-injecting proxy in front of the real registry delays every request; code that
ignores cancellation does not hold the answer either."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.core.admission.decision import ImageVerifier, decide
from app.core.admission.policy import FixedPolicySource
from app.core.admission.review import AdmissionRequest, parse_review
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot, StaticKeyStore
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.webhook.review import Reviewer
from tests.core.decisions import PROD, ScriptedVerifier, policy
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.support.fault_proxy import FaultProxy
from tests.webhook.reviews import review

IMAGES = 5


@pytest.fixture(scope="module")
def signed(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> list[str]:
    """Repositories `slow/app-N` holding one signed image each (tag `1`)."""
    repos = [f"slow/app-{i}" for i in range(IMAGES)]
    for repo in repos:
        push_image(plain_registry, repo, "1", content=repo.encode())
        sign_image(
            f"{plain_registry.host}/{repo}:1",
            key_pairs["ecdsa-p256"],
            ["--insecure-registry", plain_registry.host],
        )
    return repos


def config(proxy: FaultProxy, key: KeyPair, deadline: float) -> dict[str, Any]:
    return {
        "deadlineSeconds": deadline,
        "registries": {"insecure": [proxy.host], "timeoutSeconds": 20},
        "policies": [key_policy("slow", f"{proxy.host}/slow/**", key)],
    }


def test_a_pod_from_a_registry_slower_than_the_deadline_is_denied_in_time(
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    proxy: FaultProxy,
    signed: list[str],
    key_pairs: dict[str, KeyPair],
) -> None:
    webhook = start_webhook(config(proxy, key_pairs["ecdsa-p256"], deadline=1))
    proxy.add(".", "delay", 4.0)
    containers = [(f"c{i}", f"{proxy.host}/{repo}:1") for i, repo in enumerate(signed)]
    begun = time.monotonic()
    answer = webhook.post(review(containers))
    elapsed = time.monotonic() - begun
    assert elapsed < 1 + 0.75, f"answered after {elapsed:.2f}s, deadline 1s"
    response = answer.json()["response"]
    assert response["allowed"] is False
    assert response["status"]["message"].split("\n") == [
        f"spec.containers[{i}] (c{i}) {image}: the registry did not answer in time (deadline 1s)"
        for i, (_, image) in enumerate(containers)
    ]


def test_the_images_of_a_pod_are_verified_concurrently_against_a_slow_registry(
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    proxy: FaultProxy,
    signed: list[str],
    key_pairs: dict[str, KeyPair],
) -> None:
    # One image takes three or four sequential round trips (the tag; the .sig manifest beside the
    # referrers API and its fallback tag; the payload blob): at 0.25 s each, ~0.9 s per image, so five
    # in sequence (~4.4 s) would pass the 3.5 s deadline. Verified concurrently, the pod is admitted.
    webhook = start_webhook(config(proxy, key_pairs["ecdsa-p256"], deadline=3.5))
    proxy.add(".", "delay", 0.25)
    containers = [(f"c{i}", f"{proxy.host}/{repo}:1") for i, repo in enumerate(signed)]
    begun = time.monotonic()
    response = webhook.post(review(containers)).json()["response"]
    elapsed = time.monotonic() - begun
    assert response == {"uid": response["uid"], "allowed": True}, response
    assert elapsed < 3.5
    assert sum(1 for seen in proxy.seen if "/manifests/1" in seen.path) == IMAGES


async def _ignore_cancellation(seconds: float) -> None:
    """Code that swallows CancelledError and keeps going (a badly written client library)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            continue


class StubbornVerifier:
    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        await _ignore_cancellation(3.0)
        raise AssertionError("never reached in time")


async def test_a_verification_that_ignores_cancellation_is_denied_at_the_deadline() -> None:
    body = review([("app", "registry.example.com/team/app:1")])
    started = time.monotonic()
    decision = await decide(parse_review(body), policy(PROD), KeySnapshot(), StubbornVerifier(), 0.2)
    assert time.monotonic() - started < 1.0
    assert not decision.allowed and "did not answer in time (deadline 0.2s)" in (decision.message or "")


async def test_a_review_whose_credential_look_up_ignores_cancellation_is_answered_just_after_the_deadline() -> (
    None
):
    async def verifier_for(_: AdmissionRequest) -> ImageVerifier:
        await _ignore_cancellation(3.0)
        return ScriptedVerifier()

    reviewer = Reviewer(
        FixedPolicySource(policy(PROD)),
        StaticKeyStore(),
        ScriptedVerifier(),
        0.2,
        lambda _: None,
        verifier_for=verifier_for,
    )
    started = time.monotonic()
    status, answer = await reviewer.review(
        json.dumps(review([("app", "registry.example.com/team/app:1")])).encode()
    )
    assert time.monotonic() - started < 1.5  # the deadline and the 0.5 s grace, not the 3 s it ignores
    assert status == 200 and answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == "the registry did not answer in time (deadline 0.2s)"
