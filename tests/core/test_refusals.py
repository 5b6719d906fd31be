"""Every way the core refuses an image or an object carries a class (`Refusal`) next to its message,
decided where the refusal is made: metrics labels and the scan report read the class, never the text.

Each row goes through `decide` with the scripted verifier; together the rows reach every class."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.admission.decision import Decision, Verdict, decide
from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import Mode, Policy
from app.core.admission.refusals import Refusal
from app.core.admission.review import parse_review
from app.core.audits.report import REASON_CLASSES, scan_report
from app.core.audits.scan import scan
from app.core.audits.targets import pod_target
from app.core.digests import Digest
from app.core.errors import (
    ImageNotFound,
    RegistryAuthError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
    RequestLimitReached,
    SignatureFormatError,
)
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from app.core.verification.entity_checks import Requirements
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict, RejectedSignature, SignatureFormat
from tests.core.decisions import ALICE, APP, BOB, MALLORY, OTHER, PROD, ScriptedVerifier, policy
from tests.webhook.reviews import review

GONE = SecretRef("sigwebhook", "gone")
PROD_WARN = dataclasses.replace(PROD, name="prod-audit", mode=Mode.WARN)
TWO_OF_TWO = Policy("quorum", (ImagePattern("registry.example.com/**"),), (ALICE, BOB), threshold=2)
FROM_A_SECRET = Policy("secret-keys", (ImagePattern("registry.example.com/**"),), secrets=(GONE,))
ONE_KEY_AND_A_SECRET = Policy(
    "half", (ImagePattern("registry.example.com/**"),), (ALICE,), secrets=(GONE,), threshold=2
)
BAD_REFERENCE = "registry.example.com/Team/app:1"  # upper case is not allowed in a repository


async def image(
    verifier: ScriptedVerifier, *policies: Policy, image: str = APP, deadline: float = 8.0
) -> tuple[Verdict, Refusal | None]:
    decision = await decide(
        parse_review(review([("app", image)])), policy(*policies), KeySnapshot(), verifier, deadline
    )
    (outcome,) = decision.images
    return outcome.verdict, outcome.refusal


DENIED, WARNED = Verdict.DENIED, Verdict.WARNED
Case = Callable[[], Awaitable[tuple[Verdict, Refusal | None]]]


def failure(
    error: BaseException, refusal: Refusal, on: Policy = PROD, verdict: Verdict = DENIED
) -> tuple[Case, Verdict, Refusal]:
    """A row: verifying the image under the policy `on` raises `error`."""
    return (lambda: image(ScriptedVerifier(errors={APP: error}), on), verdict, refusal)


IMAGE_CASES: dict[str, tuple[Case, Verdict, Refusal]] = {
    "an invalid reference": (
        lambda: image(ScriptedVerifier(), PROD, image=BAD_REFERENCE),
        DENIED,
        Refusal.INVALID_REFERENCE,
    ),
    "no policy matches": (lambda: image(ScriptedVerifier(), PROD, image=OTHER), DENIED, Refusal.UNMATCHED),
    "a policy without usable keys": (
        lambda: image(ScriptedVerifier(), FROM_A_SECRET),
        DENIED,
        Refusal.NO_USABLE_KEYS,
    ),
    "a policy with fewer usable keys than its threshold": (
        lambda: image(ScriptedVerifier(signed={APP: (ALICE,)}), ONE_KEY_AND_A_SECRET),
        DENIED,
        Refusal.NO_USABLE_KEYS,
    ),
    "a warn policy without usable keys": (
        lambda: image(ScriptedVerifier(), dataclasses.replace(FROM_A_SECRET, mode=Mode.WARN)),
        WARNED,
        Refusal.NO_USABLE_KEYS,
    ),
    "no signatures": (lambda: image(ScriptedVerifier(), PROD), DENIED, Refusal.UNSIGNED),
    "no signatures, warn mode": (lambda: image(ScriptedVerifier(), PROD_WARN), WARNED, Refusal.UNSIGNED),
    "signed by a key no policy trusts": (
        lambda: image(ScriptedVerifier(signed={APP: (MALLORY,)}), PROD),
        DENIED,
        Refusal.INVALID_SIGNATURE,
    ),
    "signed only by another matching policy's key": (
        lambda: image(
            ScriptedVerifier(signed={APP: (BOB,)}),
            PROD,
            Policy("bob", (ImagePattern("registry.example.com/**"),), (BOB,)),
        ),
        DENIED,
        Refusal.UNTRUSTED_SIGNER,
    ),
    "signed only by a policy trusting under other requirements": (
        lambda: image(
            ScriptedVerifier(signed={APP: (BOB,)}),
            PROD,
            Policy(
                "bob-no-log",
                (ImagePattern("registry.example.com/**"),),
                (BOB,),
                requirements=Requirements(transparency_log=False),
            ),
        ),
        DENIED,
        Refusal.UNTRUSTED_SIGNER,
    ),
    "fewer signers than the threshold": (
        lambda: image(ScriptedVerifier(signed={APP: (ALICE,)}), TWO_OF_TWO),
        DENIED,
        Refusal.TOO_FEW_SIGNERS,
    ),
    "the deadline passes": (
        lambda: image(ScriptedVerifier(hang={APP}), PROD, deadline=0.05),
        DENIED,
        Refusal.DEADLINE,
    ),
    "the image is not in the registry": failure(ImageNotFound("no such image"), Refusal.IMAGE_NOT_FOUND),
    "the registry refuses every credential": failure(
        RegistryAuthError("authentication required"), Refusal.REGISTRY_AUTH
    ),
    "the registry is down": failure(RegistryUnavailable("connection refused"), Refusal.REGISTRY_UNAVAILABLE),
    "sigwebhook's own limit on registry requests was full until the answer was due": failure(
        RequestLimitReached("no request slot in time"), Refusal.REQUEST_LIMIT
    ),
    "the registry is too slow": failure(RegistryTimeout("read timeout"), Refusal.REGISTRY_UNAVAILABLE),
    "the registry is down, warn mode": failure(
        RegistryUnavailable("connection refused"), Refusal.REGISTRY_UNAVAILABLE, PROD_WARN, verdict=WARNED
    ),
    "the registry answers against the spec": failure(
        RegistryProtocolError("manifest does not match its digest"), Refusal.REGISTRY_ERROR
    ),
    "another of sigwebhook's own errors": failure(
        SignatureFormatError("bundle is not JSON"), Refusal.VERIFICATION_ERROR
    ),
    "a bug in the verifier": failure(KeyError("bug"), Refusal.INTERNAL),
}


@pytest.mark.parametrize("case", IMAGE_CASES.values(), ids=IMAGE_CASES.keys())
async def test_every_refused_image_carries_the_class_of_its_refusal(
    case: tuple[Case, Verdict, Refusal],
) -> None:
    run, verdict, refusal = case
    assert await run() == (verdict, refusal)


def _not_reviewed() -> dict[str, Any]:
    body = review([("app", APP)])
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    body["request"]["object"] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    return body


OBJECT_CASES: dict[str, tuple[dict[str, Any], Refusal]] = {
    "a kind the webhook does not review": (_not_reviewed(), Refusal.KIND_NOT_REVIEWED),
    "more images than one review verifies": (
        review([(f"c{i}", f"registry.example.com/team/app{i}:1") for i in range(101)]),
        Refusal.TOO_MANY_IMAGES,
    ),
}


async def _object(body: dict[str, Any]) -> Decision:
    return await decide(parse_review(body), policy(PROD), KeySnapshot(), ScriptedVerifier())


@pytest.mark.parametrize("case", OBJECT_CASES.values(), ids=OBJECT_CASES.keys())
async def test_an_object_refused_as_a_whole_carries_the_class_on_the_decision(
    case: tuple[dict[str, Any], Refusal],
) -> None:
    body, refusal = case
    decision = await _object(body)
    assert not decision.allowed and decision.images == () and decision.refusal is refusal


def test_the_rows_reach_every_class() -> None:
    # The webhook's own deadline and internal-error answers (app.webhook.review) reuse DEADLINE and
    # INTERNAL, which images reach here too.
    reached = {refusal for _, _, refusal in IMAGE_CASES.values()} | {r for _, r in OBJECT_CASES.values()}
    assert reached == set(Refusal)


async def test_admitted_images_carry_no_refusal() -> None:
    verified = await image(ScriptedVerifier(signed={APP: (ALICE,)}), PROD)
    exempt = await image(ScriptedVerifier(), PROD, image="registry.k8s.io/pause:3.9")
    assert verified == (Verdict.VERIFIED, None) and exempt == (Verdict.EXEMPT, None)


class Echoing(ScriptedVerifier):
    """A signature rejected with a reason that reads like other refusals (a registry or an attacker
    chooses much of the text a rejection quotes)."""

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        if str(ref) in self.errors:
            return await super().verify(ref, trust)
        reason = 'no policy matches this image (unmatched: deny); policy "prod" has no usable keys'
        rejected = (RejectedSignature(SignatureFormat.COSIGN_V2_SIG_TAG, "sig layer", reason),)
        return ImageVerdict(ref, Digest.of(b"x"), (), rejected)


async def test_the_class_does_not_follow_words_quoted_in_the_reason() -> None:
    decision = await decide(parse_review(review([("app", APP)])), policy(PROD), KeySnapshot(), Echoing())
    (outcome,) = decision.images
    assert "no policy matches" in outcome.reason and "no usable keys" in outcome.reason
    assert outcome.refusal is Refusal.INVALID_SIGNATURE


async def test_an_image_failing_several_policies_has_the_class_of_the_first_reason() -> None:
    verdict, refusal = await image(ScriptedVerifier(signed={APP: (ALICE,)}), TWO_OF_TWO, FROM_A_SECRET)
    assert (verdict, refusal) == (DENIED, Refusal.NO_USABLE_KEYS)  # planning fails before verifying
    decision = await decide(
        parse_review(review([("app", APP)])), policy(PROD_WARN, TWO_OF_TWO), KeySnapshot(), ScriptedVerifier()
    )
    (outcome,) = decision.images
    assert outcome.reason.startswith('no signature verified by the keys of policy "quorum"')
    assert outcome.refusal is Refusal.UNSIGNED  # the enforce policy's reason comes first


def _pod(name: str, images: list[str]) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {"metadata": {"name": name, "namespace": "shop"}, "spec": {"containers": containers}}


async def test_the_scan_reports_the_core_class_of_each_finding() -> None:
    targets = [
        pod_target(_pod("echoed", [APP])),
        pod_target(_pod("crowded", [f"registry.example.com/team/app{i}:1" for i in range(101)])),
        pod_target(_pod("unreachable", ["registry.example.com/team/down:1"])),
    ]
    verifier = Echoing(errors={"registry.example.com/team/down:1": RegistryTimeout("read timeout")})
    results = await scan(targets, policy(PROD), KeySnapshot(), verifier, 8.0)
    report = scan_report(results, datetime(2026, 1, 1, tzinfo=UTC))
    classes = {f["name"]: f["reason_class"] for f in report["findings"]}
    assert classes == {
        "echoed": "invalid-signature",
        "crowded": "too-many-images",
        "unreachable": "registry-unavailable",
    }
    assert set(classes.values()) <= set(REASON_CLASSES)
