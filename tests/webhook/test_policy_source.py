"""The reviewer reads the policy from a `PolicySource` at each review: a source that publishes a new
policy (as a policy watcher in the cluster would) changes the next answer, without a restart, and one
review never mixes two policies."""

from __future__ import annotations

import json
from dataclasses import dataclass

from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import AdmissionPolicy, Pinning, Policy
from app.core.trust.secretkeys import StaticKeyStore
from app.webhook.review import Reviewer
from tests.core.decisions import ALICE, APP, OTHER, PROD, ScriptedVerifier
from tests.webhook.reviews import review


@dataclass
class PublishingSource:
    """A policy source whose policy is replaced by `then` right after it is first read."""

    policy: AdmissionPolicy
    then: AdmissionPolicy | None = None
    reads: int = 0

    def current(self) -> AdmissionPolicy:
        self.reads += 1
        policy = self.policy
        if self.then is not None:
            self.policy, self.then = self.then, None
        return policy


def body(*images: str) -> bytes:
    return json.dumps(review([(f"c{i}", image) for i, image in enumerate(images)])).encode()


async def test_a_policy_the_source_publishes_applies_to_the_next_review() -> None:
    tools = Policy("tools", (ImagePattern("other.io/**"),), (ALICE,))
    source = PublishingSource(AdmissionPolicy((PROD,)), then=AdmissionPolicy((PROD, tools)))
    verifier = ScriptedVerifier(signed={APP: (ALICE,), OTHER: (ALICE,)})
    reviewer = Reviewer(source, StaticKeyStore(), verifier, 2.0, lambda _: None)
    _, before = await reviewer.review(body(APP, OTHER))
    assert before["response"]["allowed"] is False  # no policy matched OTHER yet
    _, after = await reviewer.review(body(APP, OTHER))
    assert after["response"]["allowed"] is True


async def test_a_mutate_review_pins_with_the_policy_its_decision_used() -> None:
    def prod(pinning: Pinning) -> AdmissionPolicy:
        return AdmissionPolicy((Policy("prod", PROD.patterns, (ALICE,), pinning=pinning),))

    # the policy changes to "never pin" between the decision and the pins, were it read twice
    source = PublishingSource(prod(Pinning.PODS), then=prod(Pinning.NONE))
    verifier = ScriptedVerifier(signed={APP: (ALICE,)})
    reviewer = Reviewer(source, StaticKeyStore(), verifier, 2.0, lambda _: None)
    _, answer = await reviewer.mutate(body(APP))
    assert source.reads == 1 and "patch" in answer["response"]
