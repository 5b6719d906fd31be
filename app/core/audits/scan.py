"""The scan: would the policies admit, today, what is running (or templated) in the cluster?

Each target is decided by the admission code itself (`app.core.admission.decision.decide`, with the
request creating it now), so skipped namespaces, exemptions, unmatched images, warn mode, thresholds
and the limits on one review apply exactly as at admission. Only the verifying is organised for a
whole cluster: every distinct image (reference + the trust of its policies) is verified once,
`concurrency` at a time, each within the admission deadline, with `progress(done, total)` told as
they finish; the decisions then read those answers.

Then what only a running pod can say: when the digest a container runs (its status `imageID`)
differs from the digest the image resolves to now (a tag moved since the pod started, or the node
pulled another image), the running digest is verified too, under the same policies, and the
container gets a `drift` finding with both outcomes. Pure: the verifier is injected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from app.core.admission.decision import Decision, ImageOutcome, ImageVerifier, Verdict, decide, prepare
from app.core.admission.outcomes import Plan, judge, plan
from app.core.admission.planner import Planner
from app.core.admission.policy import AdmissionPolicy
from app.core.admission.workloads import ContainerImage
from app.core.audits.targets import Target, running_key
from app.core.digests import Digest
from app.core.errors import DeadlineExceeded, SigwebhookError
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict

DEFAULT_CONCURRENCY = 8
Progress = Callable[[int, int], None]
_Key = tuple[str, Hashable]  # reference text, the whole trust it is verified with (`Trust.cache_key`)
Answer = ImageVerdict | BaseException


@dataclass(frozen=True)
class ContainerResult:
    """One container of a target: its outcome, the digest it runs (pods only) and, when that differs
    from the digest verified, the outcome of verifying the running digest itself."""

    outcome: ImageOutcome
    running: Digest | None = None
    running_outcome: ImageOutcome | None = None


@dataclass(frozen=True)
class TargetResult:
    """One target, decided: `status` is `denied`, `would-deny` (warn mode), `skipped` or `allowed`."""

    target: Target
    decision: Decision
    containers: tuple[ContainerResult, ...]

    @property
    def status(self) -> str:
        if not self.decision.allowed:
            return "denied"
        if self.decision.would_deny:
            return "would-deny"
        if any(c.outcome.verdict is Verdict.SKIPPED for c in self.containers):
            return "skipped"
        return "allowed"


async def scan(
    targets: Sequence[Target],
    policy: AdmissionPolicy,
    snapshot: KeySnapshot,
    verifier: ImageVerifier,
    deadline_seconds: float,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> list[TargetResult]:
    """Decide every target (finished pods are the caller's to leave out); one result each, in order."""
    planner = Planner()  # one for planning and deciding: each image is planned once
    plans = [p for t in targets for p in _plans(t, policy, snapshot, planner)]
    answers = await _verify_distinct(
        {_key(p): p for p in plans}, verifier, deadline_seconds, concurrency, progress
    )
    memo = _Answers(answers)
    decisions = [await decide(t.request, policy, snapshot, memo, deadline_seconds, planner) for t in targets]
    # The running digests that differ from the one verified: verified too, in a second round.
    drifting: dict[_Key, Plan] = {}
    for target, decision in zip(targets, decisions, strict=True):
        for outcome in decision.images:
            running_plan = _running_plan(target, outcome, policy, snapshot)
            if isinstance(running_plan, Plan):
                drifting.setdefault(_key(running_plan), running_plan)
    answers.update(await _verify_distinct(drifting, verifier, deadline_seconds, concurrency, progress))
    return [
        TargetResult(t, d, tuple(_container(t, o, policy, snapshot, answers) for o in d.images))
        for t, d in zip(targets, decisions, strict=True)
    ]


def _plans(target: Target, policy: AdmissionPolicy, snapshot: KeySnapshot, planner: Planner) -> list[Plan]:
    """The verifications deciding `target` will ask for (none when admission would not verify)."""
    pending = prepare(target.request, policy, snapshot, planner)
    return [] if isinstance(pending, Decision) else list(pending.plans.values())


def _running_plan(
    target: Target, outcome: ImageOutcome, policy: AdmissionPolicy, snapshot: KeySnapshot
) -> Plan | ImageOutcome | None:
    """How the digest the container runs is checked, when it is not the one just verified: a plan
    to verify, or the outcome that needs no registry (no policy names the repository by digest)."""
    running = target.running.get(running_key(outcome.container.path, outcome.container.name))
    if running is None or outcome.digest is None or outcome.reference is None or running == outcome.digest:
        return None
    pinned = replace(outcome.container, image=f"{outcome.reference.repository}@{running}")
    return plan(pinned, policy, snapshot)


def _container(
    target: Target,
    outcome: ImageOutcome,
    policy: AdmissionPolicy,
    snapshot: KeySnapshot,
    answers: dict[_Key, Answer],
) -> ContainerResult:
    running = target.running.get(running_key(outcome.container.path, outcome.container.name))
    running_plan = _running_plan(target, outcome, policy, snapshot)
    if running_plan is None:
        return ContainerResult(outcome, running)
    if isinstance(running_plan, ImageOutcome):
        return ContainerResult(outcome, running, running_plan)
    pinned: ContainerImage = replace(outcome.container, image=str(running_plan.reference))
    answer = answers[_key(running_plan)]
    checked = judge(
        pinned,
        running_plan.reference,
        running_plan.policies,
        running_plan.grants,
        answer,
        running_plan.warned,
    )
    return ContainerResult(outcome, running, checked)


def _key(planned: Plan) -> _Key:
    return _answer_key(planned.reference, planned.trust)


def _answer_key(reference: ImageRef, trust: Trust) -> _Key:
    return str(reference), trust.cache_key()


async def _verify_distinct(
    plans: dict[_Key, Plan],
    verifier: ImageVerifier,
    deadline: float,
    concurrency: int,
    progress: Progress | None,
) -> dict[_Key, Answer]:
    """Verify each plan once, `concurrency` at a time, each within `deadline` seconds."""
    slots = asyncio.Semaphore(max(1, concurrency))
    done, total = 0, len(plans)

    async def verify(planned: Plan) -> Answer:
        nonlocal done
        async with slots:
            try:
                return await asyncio.wait_for(verifier.verify(planned.reference, planned.trust), deadline)
            except TimeoutError:
                return DeadlineExceeded(
                    f"the registry did not answer in time (deadline {deadline:g}s)",
                    f"{planned.reference}: verification still running after {deadline:g}s, cancelled",
                )
            except Exception as exc:  # becomes this image's outcome, as in a review
                return exc
            finally:
                done += 1
                if progress is not None:
                    progress(done, total)

    keys = list(plans)
    results = await asyncio.gather(*(verify(plans[k]) for k in keys))
    return dict(zip(keys, results, strict=True))


class _Answers:
    """An `ImageVerifier` answering from the scan's results (a stored error is raised as a copy)."""

    def __init__(self, answers: dict[_Key, Answer]) -> None:
        self._answers = answers

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        answer = self._answers[_answer_key(ref, trust)]
        if isinstance(answer, SigwebhookError):
            raise type(answer)(answer.reason, answer.detail)
        if isinstance(answer, BaseException):
            raise answer
        return answer
