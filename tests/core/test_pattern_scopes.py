"""Tags and digests in patterns, through the decision and `/mutate` pinning: a tag-scoped exemption or
policy never covers a reference that carries a digest, and pinning never turns an
image into a form that other policies judge."""

from __future__ import annotations

from app.core.admission.decision import Verdict
from app.core.admission.patterns import ImagePattern
from app.core.admission.pinning import json_patch, pins
from app.core.admission.policy import AdmissionPolicy, Policy, Unmatched
from app.core.admission.review import parse_review
from app.core.digests import Digest
from tests.core.decisions import ALICE, BOB, PROD, ScriptedVerifier, run
from tests.webhook.reviews import review

DEBUG = "registry.example.com/tools/debug"
ANY_DIGEST = Digest.of(b"another manifest of the repository")


def exempting(
    *patterns: str, unmatched: Unmatched = Unmatched.DENY, policies: tuple[Policy, ...] = ()
) -> AdmissionPolicy:
    return AdmissionPolicy(policies, unmatched, frozenset(), tuple(ImagePattern(p) for p in patterns))


async def test_a_tag_scoped_exemption_admits_the_tag_but_not_the_tag_with_a_digest() -> None:
    admission = exempting(f"{DEBUG}:v1")
    assert (await run(review([("debug", f"{DEBUG}:v1")]), admission, ScriptedVerifier())).allowed
    decision = await run(review([("debug", f"{DEBUG}:v1@{ANY_DIGEST}")]), admission, ScriptedVerifier())
    assert not decision.allowed
    assert decision.message == (
        f"spec.containers[0] (debug) {DEBUG}:v1@{ANY_DIGEST}: no policy matches this image (unmatched: deny)"
    )


async def test_a_digest_exemption_admits_that_digest_whatever_the_tag() -> None:
    admission = exempting(f"{DEBUG}@{ANY_DIGEST}")
    decision = await run(review([("debug", f"{DEBUG}:v9@{ANY_DIGEST}")]), admission, ScriptedVerifier())
    assert decision.allowed and decision.images[0].verdict is Verdict.EXEMPT


async def test_a_tag_with_a_digest_is_verified_by_the_repository_policy_not_exempted() -> None:
    image = f"{DEBUG}:v1@{ANY_DIGEST}"
    verifier = ScriptedVerifier()
    decision = await run(review([("debug", image)]), exempting(f"{DEBUG}:v1", policies=(PROD,)), verifier)
    assert [c for c, _ in verifier.calls] == [image]
    assert decision.images[0].verdict is Verdict.DENIED


async def test_a_tag_scoped_policy_does_not_judge_a_reference_with_a_digest() -> None:
    # A lenient policy for one tag (BOB's key) must not judge whatever digest is written next to it.
    canary = Policy("canary", (ImagePattern(f"{DEBUG}:canary"),), (BOB,))
    image = f"{DEBUG}:canary@{ANY_DIGEST}"
    verifier = ScriptedVerifier({image: (BOB,)})
    decision = await run(review([("debug", image)]), AdmissionPolicy((canary, PROD)), verifier)
    assert not decision.allowed and decision.images[0].policies == ("prod",)
    alone = await run(review([("debug", image)]), AdmissionPolicy((canary,)), verifier)
    assert alone.message is not None and alone.message.endswith(
        "no policy matches this image (unmatched: deny)"
    )


async def test_an_image_a_tag_scoped_policy_verified_is_not_pinned_out_of_its_policy() -> None:
    tagged = Policy("tagged", (ImagePattern(f"{DEBUG}:v*"),), (ALICE,))
    body = review([("debug", f"{DEBUG}:v1")])
    admission = AdmissionPolicy((tagged,))
    decision = await run(body, admission, ScriptedVerifier({f"{DEBUG}:v1": (ALICE,)}))
    assert decision.allowed and decision.images[0].verdict is Verdict.VERIFIED
    assert pins(parse_review(body), decision, admission) == ()


async def test_an_image_a_repository_policy_verified_is_pinned() -> None:
    body = review([("debug", f"{DEBUG}:v1")])
    admission = AdmissionPolicy((PROD,))
    decision = await run(body, admission, ScriptedVerifier({f"{DEBUG}:v1": (ALICE,)}))
    patch = json_patch(pins(parse_review(body), decision, admission))
    assert [op["op"] for op in patch] == ["test", "replace"]
