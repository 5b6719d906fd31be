"""Bounded work per review: a pod listing thousands of containers or images is answered at once,
denied with one line, and never sets off unbounded registry work."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from app.core.admission.decision import (
    MAX_CONCURRENT_VERIFICATIONS,
    MAX_CONTAINERS_PER_REVIEW,
    MAX_IMAGES_PER_REVIEW,
    decide,
)
from app.core.admission.review import parse_review
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from tests.core.decisions import ALICE, PROD, ScriptedVerifier, policy
from tests.webhook.reviews import pod, review


@dataclass
class CountingVerifier(ScriptedVerifier):
    """Signed by ALICE; remembers how many verifications ran at the same time at most."""

    running: int = 0
    peak: int = 0

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0)  # let every other verification start, if it may
            self.signed[str(ref)] = (ALICE,)
            return await super().verify(ref, trust)
        finally:
            self.running -= 1


def _images(count: int) -> list[tuple[str, str]]:
    return [(f"c{i}", f"registry.example.com/team/app{i}:1") for i in range(count)]


async def test_a_pod_with_5000_containers_is_denied_in_one_line_without_registry_calls() -> None:
    verifier = ScriptedVerifier()
    started = time.monotonic()
    decision = await decide(parse_review(review(_images(5000))), policy(PROD), KeySnapshot(), verifier)
    assert time.monotonic() - started < 1.0
    assert not decision.allowed and verifier.calls == []
    assert decision.message is not None and len(decision.message.splitlines()) == 1
    assert (
        f"it has 5000 containers and image volumes, more than the {MAX_CONTAINERS_PER_REVIEW}"
        in decision.message
    )


async def test_more_distinct_images_than_the_limit_are_denied_without_registry_calls() -> None:
    verifier = ScriptedVerifier()
    body = review(_images(MAX_IMAGES_PER_REVIEW + 1))
    decision = await decide(parse_review(body), policy(PROD), KeySnapshot(), verifier)
    assert not decision.allowed and verifier.calls == []
    assert f"names {MAX_IMAGES_PER_REVIEW + 1} distinct images to verify" in (decision.message or "")


async def test_the_same_image_in_many_containers_counts_once() -> None:
    verifier = CountingVerifier()
    body = review([(f"c{i}", "registry.example.com/team/app:1") for i in range(MAX_CONTAINERS_PER_REVIEW)])
    decision = await decide(parse_review(body), policy(PROD), KeySnapshot(), verifier)
    assert decision.allowed and len(verifier.calls) == 1


async def test_verifications_of_one_review_run_at_most_the_limit_at_a_time() -> None:
    verifier = CountingVerifier()
    decision = await decide(
        parse_review(review(_images(MAX_IMAGES_PER_REVIEW))), policy(PROD), KeySnapshot(), verifier
    )
    assert decision.allowed and len(verifier.calls) == MAX_IMAGES_PER_REVIEW
    assert 1 < verifier.peak <= MAX_CONCURRENT_VERIFICATIONS


async def test_an_update_of_a_large_pod_that_changes_no_image_is_answered_quickly() -> None:
    images = _images(MAX_CONTAINERS_PER_REVIEW)
    verifier = ScriptedVerifier()
    started = time.monotonic()
    body = review(images, operation="UPDATE", old=pod(images))
    decision = await decide(parse_review(body), policy(PROD), KeySnapshot(), verifier)
    assert time.monotonic() - started < 1.0
    assert decision.allowed and verifier.calls == []
