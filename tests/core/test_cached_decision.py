"""A review decided from cached verdicts alone (`decide_cached`), or partly (`start`, then `finish`),
reaches the decision `decide` reaches,
and what the planner remembers never outlives the policy or the key snapshot it was planned with."""

from __future__ import annotations

import dataclasses

from app.core.admission.decision import Planner, Started, decide, decide_cached, finish, start
from app.core.admission.outcomes import Plan, Verdict
from app.core.admission.policy import ImagePattern, Mode, Policy
from app.core.admission.review import parse_review
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from tests.core.decisions import (
    ALICE,
    APP,
    BOB,
    DB,
    DB_TWO_OF_THREE,
    OTHER,
    PROD,
    ScriptedVerifier,
    policy,
)
from tests.webhook.reviews import review

SNAPSHOT = KeySnapshot()
CASES = {
    "signed": ([("app", APP), ("db", DB)], {APP: (ALICE,), DB: (ALICE, BOB)}),
    "one short of its quorum": ([("app", APP), ("db", DB)], {APP: (ALICE,), DB: (ALICE,)}),
    "unsigned and unmatched": ([("app", APP), ("shell", OTHER), ("pause", "registry.k8s.io/pause:3.9")], {}),
    "the same image twice": ([("a", APP), ("b", APP)], {APP: (BOB,)}),
}


class Remembered:
    """The verdicts a scripted verifier gave, answered again at once (a verdict cache)."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], ImageVerdict] = {}
        self.asked = 0

    def cached(self, ref: ImageRef, trust: Trust) -> ImageVerdict | None:
        self.asked += 1
        return self.kept.get((str(ref), trust.cache_key()))


async def test_a_review_answered_from_cached_verdicts_is_decided_as_the_verifier_decides_it() -> None:
    admission = policy(PROD, DB_TWO_OF_THREE)
    for name, (containers, signed) in CASES.items():
        request = parse_review(review(containers))
        verifier, memory = ScriptedVerifier(signed), Remembered()
        expected = await decide(request, admission, SNAPSHOT, verifier)
        assert decide_cached(request, admission, SNAPSHOT, memory.cached, Planner()) is None, name
        plans = [p for c in request.images if isinstance(p := Planner().plan(c, admission, SNAPSHOT), Plan)]
        for planned in plans:  # what the verifier answered, kept as a verdict cache keeps it
            verdict = await ScriptedVerifier(signed).verify(planned.reference, planned.trust)
            memory.kept[(str(planned.reference), planned.trust.cache_key())] = verdict
        planner = Planner()
        for _ in range(2):  # the second time, from what the planner remembers
            found = decide_cached(request, admission, SNAPSHOT, memory.cached, planner)
            assert found == expected, name


async def test_a_review_partly_answered_from_the_cache_verifies_only_the_rest_and_decides_the_same() -> None:
    admission = policy(PROD, DB_TWO_OF_THREE)
    containers, signed = CASES["signed"]
    request = parse_review(review(containers))
    expected = await decide(request, admission, SNAPSHOT, ScriptedVerifier(signed))
    memory = Remembered()
    app = next(p for c in request.images if isinstance(p := Planner().plan(c, admission, SNAPSHOT), Plan))
    memory.kept[(str(app.reference), app.trust.cache_key())] = await ScriptedVerifier(signed).verify(
        app.reference, app.trust
    )
    planner = Planner()
    started = start(request, admission, SNAPSHOT, memory.cached, planner)
    assert isinstance(started, Started)
    verifier = ScriptedVerifier(signed)
    assert await finish(request, started, verifier, planner=planner) == expected
    assert [name for name, _ in verifier.calls] == [
        str(p.reference) for p in started.pending.plans.values() if str(p.reference) != str(app.reference)
    ]


def test_an_image_named_twice_is_looked_up_once() -> None:
    memory = Remembered()
    request = parse_review(review([("a", APP), ("b", APP)]))
    decide_cached(request, policy(PROD), SNAPSHOT, memory.cached, Planner())
    assert memory.asked == 1


def test_a_review_that_verifies_nothing_needs_no_verdict_at_all() -> None:
    memory = Remembered()
    skipped = parse_review(review([("app", APP)], namespace="kube-system"))
    decision = decide_cached(skipped, policy(PROD), SNAPSHOT, memory.cached, Planner())
    assert decision is not None and decision.allowed and decision.images[0].verdict is Verdict.SKIPPED
    assert memory.asked == 0


def test_a_new_key_snapshot_or_policy_is_planned_afresh() -> None:
    secret = SecretRef("team", "keys")
    keyed = Policy("team", (ImagePattern("registry.example.com/**"),), secrets=(secret,))
    container = parse_review(review([("app", APP)])).images[0]
    planner, admission = Planner(), policy(keyed)
    before = planner.plan(container, admission, KeySnapshot())
    assert not isinstance(before, Plan) and before.verdict is Verdict.DENIED  # no keys loaded yet
    rotated = KeySnapshot({secret: (ALICE,)})
    after = planner.plan(container, admission, rotated)
    assert isinstance(after, Plan) and [s.label for s in after.trust.signers] == [ALICE.name]
    warned = policy(dataclasses.replace(keyed, mode=Mode.WARN))
    assert planner.plan(container, warned, KeySnapshot()).verdict is Verdict.WARNED  # type: ignore[union-attr]


def test_a_remembered_outcome_is_told_for_the_container_that_asks() -> None:
    planner, admission = Planner(), policy(PROD)
    first, second = parse_review(review([("one", OTHER), ("two", OTHER)])).images
    assert planner.plan(first, admission, SNAPSHOT).container == first  # type: ignore[union-attr]
    assert planner.plan(second, admission, SNAPSHOT).container == second  # type: ignore[union-attr]


def test_an_error_is_judged_each_time_and_never_remembered() -> None:
    planner, admission = Planner(), policy(PROD)
    container = parse_review(review([("app", APP)])).images[0]
    planned = planner.plan(container, admission, SNAPSHOT)
    assert isinstance(planned, Plan)
    first = planner.judge(container, planned, TimeoutError("one"))
    second = planner.judge(container, planned, TimeoutError("two"))
    assert first.error is not second.error
