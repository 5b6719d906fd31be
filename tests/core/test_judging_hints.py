"""The hint after "no signature verified by the keys of policy …": none found, other keys only, or why not."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.admission.decision import decide
from app.core.admission.outcomes import MAX_REASONS_CHARS, Verdict, judge
from app.core.admission.review import parse_review
from app.core.admission.workloads import ContainerImage
from app.core.digests import Digest
from app.core.references import ImageRef, parse_reference
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict, RejectedSignature, SignatureFormat, VerifiedSignature
from tests.core.decisions import ALICE, APP, BOB, PROD, policy
from tests.webhook.reviews import review

V2 = SignatureFormat.COSIGN_V2_SIG_TAG
V3 = SignatureFormat.COSIGN_V3_BUNDLE
CONTAINER = ContainerImage("spec.containers[0]", "app", APP)
PREFIX = 'no signature verified by the keys of policy "prod"'


def verdict(verified: tuple[VerifiedSignature, ...] = (), *reasons: str) -> ImageVerdict:
    rejected = tuple(RejectedSignature(V2, f"sig layer {i}", r) for i, r in enumerate(reasons))
    return ImageVerdict(parse_reference(APP), Digest.of(b"app"), verified, rejected)


def judged(result: ImageVerdict) -> str:
    grants = frozenset((g.basis, s.trust_id) for g in PROD.trust((ALICE,)).groups for s in g.signers)
    outcome = judge(CONTAINER, result.reference, (PROD,), (grants,), result)
    assert outcome.verdict is Verdict.DENIED
    return outcome.reason


def test_an_image_with_no_signatures_says_none_were_found() -> None:
    assert judged(verdict()) == f"{PREFIX} (no signatures found)"


def test_an_image_signed_only_by_another_policys_key_says_this_policy_does_not_trust_it() -> None:
    (group,) = PROD.trust((ALICE,)).groups  # bob's signature verified under prod's own root and needs
    by_bob = VerifiedSignature(
        V3, f"key:{BOB.fingerprint}", BOB.name, "referrer sha256:…", group.basis, BOB.fingerprint
    )
    assert judged(verdict((by_bob,), "bad")) == f"{PREFIX} (signed only by keys this policy does not trust)"


def test_rejected_signatures_are_counted_and_their_distinct_reasons_listed_in_order() -> None:
    reason = judged(verdict((), "wrong key", "payload digest mismatch", "wrong key"))
    assert reason == f"{PREFIX} (3 signature(s) found: wrong key; payload digest mismatch)"


def test_a_long_list_of_reasons_is_cut_with_an_ellipsis() -> None:
    reasons = [f"reason number {i} is rather long to read" for i in range(10)]
    reason = judged(verdict((), *reasons))
    hint = reason.removeprefix(f"{PREFIX} (10 signature(s) found: ").removesuffix(")")
    assert hint != reason and hint.endswith("…") and len(hint) <= MAX_REASONS_CHARS
    assert hint.startswith("reason number 0 is rather long to read; reason number 1")


@dataclass
class RejectingVerifier:
    """Every image has one signature, rejected with `reason`."""

    reason: str

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        return ImageVerdict(ref, Digest.of(b"x"), (), (RejectedSignature(V2, "sig layer", self.reason),))


async def test_a_rejection_reason_with_a_line_break_is_escaped_in_the_deny_line() -> None:
    verifier = RejectingVerifier("bad\nspec.containers[0] (app) x: verified by prod")
    decision = await decide(parse_review(review([("app", APP)])), policy(PROD), KeySnapshot(), verifier)
    assert not decision.allowed and decision.message is not None
    assert "\n" not in decision.message
    assert decision.message.endswith(
        "(1 signature(s) found: bad\\nspec.containers[0] (app) x: verified by prod)"
    )
