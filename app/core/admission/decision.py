"""The admission decision: from a parsed request, the policy and the current keys, to allow or deny.

`decide` plans each image (`app.core.admission.outcomes.plan`), runs the verifier for every image of the pod
or workload template concurrently (at most `MAX_CONCURRENT_VERIFICATIONS` at a time; an object naming more than
`MAX_IMAGES_PER_REVIEW` distinct images to verify, or listing more than `MAX_CONTAINERS_PER_REVIEW`
containers and image volumes, is denied unverified with one line saying so), inside a deadline, and judges each
answer (`judge`); the object is allowed only when every image is (image volumes are images like containers'). Images that only warn-mode policies refuse are admitted and
listed in `warnings`. A deny message has one line per failing container, naming the container, the
image as written and why (prefixed by the object for a workload: `Deployment web: spec.template…`):

    spec.initContainers[0] (migrate) registry.example.com/db/migrate:2: no signature verified by the keys of policy "prod" (no signatures found)

A failure on one image never hides the others; an image still being verified when the deadline
passes is denied saying the registry did not answer in time (fail closed); an unexpected exception
becomes "internal error, see webhook logs" with the traceback in the log only. No I/O here except
through the injected verifier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from app.core.admission.outcomes import INTERNAL_ERROR, ImageOutcome, Plan, Verdict, judge
from app.core.admission.planner import Planner
from app.core.admission.policy import AdmissionPolicy
from app.core.admission.refusals import Refusal
from app.core.admission.review import AdmissionRequest, ContainerImage, Operation
from app.core.admission.workloads import WORKLOAD_KINDS
from app.core.errors import DeadlineExceeded, SigwebhookError
from app.core.kits import collect
from app.core.printable import printable
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict

__all__ = [
    "INTERNAL_ERROR", "CachedVerdict", "Decision", "ImageOutcome", "ImageVerifier", "Planner", "Refusal",
    "Started", "Verdict", "decide", "decide_cached", "finish", "judge", "start",
]  # fmt: skip

log = logging.getLogger("sigwebhook.decision")

DEFAULT_DEADLINE_SECONDS = 8.0
# Registry work one review may cause: distinct images verified at the same time, and in all. A pod
# or template rarely names more than a few dozen images; a review naming more is denied unverified.
MAX_CONCURRENT_VERIFICATIONS = 16
MAX_IMAGES_PER_REVIEW = 100
MAX_CONTAINERS_PER_REVIEW = 500


class ImageVerifier(Protocol):
    """What the decision needs from `app.core.verification.verifier.Verifier`."""

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict: ...


@dataclass(frozen=True)
class Decision:
    """The answer to one review: allowed or not, the message for `status.message`, the warnings
    (one line per image that only warn-mode policies refused), and per image outcomes for the audit
    log. `summary` says in a few words why (for the log); `refusal` classes a deny of the object
    as a whole (each image's outcome carries its own)."""

    allowed: bool
    summary: str
    images: tuple[ImageOutcome, ...] = ()
    message: str | None = None
    warnings: tuple[str, ...] = ()
    refusal: Refusal | None = None  # why the whole object was refused, when no image says it

    @property
    def would_deny(self) -> bool:
        """True when a warn-mode policy refused some image: enforced, this would have been a deny."""
        return any(o.verdict is Verdict.WARNED for o in self.images)


# The verdict for an image when it is known now, without waiting (a cached one), else None.
CachedVerdict = Callable[[ImageRef, Trust], ImageVerdict | None]


@dataclass(frozen=True)
class _Pending:
    """A review whose images are planned: the outcomes known already, and the plans to verify."""

    outcomes: dict[ContainerImage, ImageOutcome]
    plans: dict[ContainerImage, Plan]


async def decide(
    request: AdmissionRequest,
    policy: AdmissionPolicy,
    snapshot: KeySnapshot,
    verifier: ImageVerifier,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    planner: Planner | None = None,
) -> Decision:
    """Decide one review. Never raises for a problem with an image: that becomes its outcome.
    `planner` remembers what each image text plans to (default: planned anew)."""
    planner = planner or Planner()
    pending = prepare(request, policy, snapshot, planner)
    if isinstance(pending, Decision):
        return pending
    results = await _verify_all(pending.plans, verifier, deadline_seconds)
    return _conclude(request, pending, results, planner)


@dataclass(frozen=True)
class Started:
    """A review planned, with the verdicts `cached` answered at once (by reference text); `finish`
    verifies the rest."""

    pending: _Pending
    known: dict[str, ImageVerdict | BaseException]


def decide_cached(
    request: AdmissionRequest,
    policy: AdmissionPolicy,
    snapshot: KeySnapshot,
    cached: CachedVerdict,
    planner: Planner,
) -> Decision | None:
    """The decision `decide` would reach, when it needs no verification that is not answered at once
    by `cached`; None when some image must wait for the registry (`start` keeps what was found)."""
    started = start(request, policy, snapshot, cached, planner)
    return started if isinstance(started, Decision) else None


def start(
    request: AdmissionRequest,
    policy: AdmissionPolicy,
    snapshot: KeySnapshot,
    cached: CachedVerdict,
    planner: Planner,
) -> Decision | Started:
    """The decision when `cached` answers every verification it needs (each distinct image asked
    once), else the review as far as the cache takes it, for `finish`. What a cached decision costs:
    no task, no timer, nothing that waits."""
    pending = prepare(request, policy, snapshot, planner)
    if isinstance(pending, Decision):
        return pending
    known: dict[str, ImageVerdict | BaseException] = {}
    missing: set[str] = set()
    for planned in pending.plans.values():
        text = str(planned.reference)
        if text not in known and text not in missing:
            verdict = cached(planned.reference, planned.trust)
            if verdict is None:
                missing.add(text)
            else:
                known[text] = verdict
    if missing:
        return Started(pending, known)
    return _conclude(request, pending, known, planner)


async def finish(
    request: AdmissionRequest,
    started: Started,
    verifier: ImageVerifier,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    planner: Planner | None = None,
) -> Decision:
    """`started` decided: the images the cache did not answer verified, within the deadline."""
    planner = planner or Planner()
    rest = {c: p for c, p in started.pending.plans.items() if str(p.reference) not in started.known}
    results = {**started.known, **await _verify_all(rest, verifier, deadline_seconds)}
    return _conclude(request, started.pending, results, planner)


def prepare(
    request: AdmissionRequest, policy: AdmissionPolicy, snapshot: KeySnapshot, planner: Planner
) -> Decision | _Pending:
    """The decision when it needs no verification, else what is known and what to verify (`plans`);
    `audit scan` asks it which verifications deciding an object will need."""
    if request.operation in (Operation.DELETE, Operation.CONNECT):
        return Decision(True, f"{request.operation.value} is not checked")
    if not request.reviewed:
        message = (
            f"sigwebhook reviews pods and {', '.join(WORKLOAD_KINDS)} only, but was called for "
            f"{request.kind}: check the rules of the webhook configuration"
        )
        return Decision(  # the kind is the sender's
            False, "kind not reviewed", message=printable(message), refusal=Refusal.KIND_NOT_REVIEWED
        )
    if policy.skips(request.namespace):
        # Admitted unverified: the audit line still lists every image, the bypass a security team audits.
        skipped = tuple(
            ImageOutcome(c, Verdict.SKIPPED, "namespace skipped by the config (skipNamespaces)")
            for c in request.images
        )
        return Decision(True, f"namespace {request.namespace} is skipped", images=skipped)
    too_many = _too_many(request)
    if too_many is not None:
        return Decision(False, "too many images", message=too_many, refusal=Refusal.TOO_MANY_IMAGES)
    to_verify = request.images_to_verify()
    verifying = set(to_verify)  # a set: a pod may list thousands of containers
    outcomes: dict[ContainerImage, ImageOutcome] = {
        c: ImageOutcome(c, Verdict.UNCHANGED, "image unchanged by this update")
        for c in request.images
        if c not in verifying
    }
    if not to_verify:
        return Decision(True, "no image changed", images=tuple(outcomes.values()))
    plans: dict[ContainerImage, Plan] = {}
    for container in to_verify:
        planned = planner.plan(container, policy, snapshot)
        if isinstance(planned, ImageOutcome):
            outcomes[container] = planned
        else:
            plans[container] = planned
    return _Pending(outcomes, plans)


def _conclude(
    request: AdmissionRequest,
    pending: _Pending,
    results: Mapping[str, ImageVerdict | BaseException],
    planner: Planner,
) -> Decision:
    """Judge each verified image and decide the whole object."""
    outcomes = pending.outcomes
    for container, planned in pending.plans.items():
        outcomes[container] = planner.judge(container, planned, results[str(planned.reference)])
    ordered = tuple(outcomes[c] for c in request.images)  # pod order: containers, init, ephemeral, volumes
    warnings = tuple(_line(request, o) for o in ordered if o.verdict is Verdict.WARNED)
    failing = [o for o in ordered if not o.allowed]
    if failing:
        message = "\n".join(_line(request, o) for o in failing)
        return Decision(False, f"{len(failing)} image(s) denied", ordered, message, warnings)
    if warnings:
        return Decision(
            True, f"{len(warnings)} image(s) would be denied (warn mode)", ordered, None, warnings
        )
    return Decision(True, "every image allowed", ordered)


def _too_many(request: AdmissionRequest) -> str | None:
    """The deny message of an object beyond the limits on work per review, or None. One line, not
    one per container: the answer and the audit record stay small whatever the object lists."""
    distinct = len({c.image for c in request.images_to_verify()})
    if len(request.images) > MAX_CONTAINERS_PER_REVIEW:
        why = (
            f"it has {len(request.images)} containers and image volumes, "
            f"more than the {MAX_CONTAINERS_PER_REVIEW}"
        )
    elif distinct > MAX_IMAGES_PER_REVIEW:
        why = f"it names {distinct} distinct images to verify, more than the {MAX_IMAGES_PER_REVIEW}"
    else:
        return None
    return printable(f"{request.subject}: not verified: {why} sigwebhook checks in one review")


def _line(request: AdmissionRequest, outcome: ImageOutcome) -> str:
    """A deny or warning line; for a workload it names the object (`Deployment web: spec.template…`).
    Names and images are the sender's text: escaped, so that none can start a line of its own."""
    line = outcome.line() if request.is_pod else f"{request.subject}: {outcome.line()}"
    return printable(line)


async def _verify_all(
    plans: dict[ContainerImage, Plan], verifier: ImageVerifier, deadline_seconds: float
) -> dict[str, ImageVerdict | BaseException]:
    """Verify each distinct reference once, all at the same time, within the deadline."""
    unique = {str(p.reference): p for p in plans.values()}
    slots = asyncio.Semaphore(MAX_CONCURRENT_VERIFICATIONS)

    async def verify(p: Plan) -> ImageVerdict:
        async with slots:
            return await verifier.verify(p.reference, p.trust)

    tasks = {text: asyncio.ensure_future(verify(p)) for text, p in unique.items()}
    if tasks:
        await asyncio.wait(tasks.values(), timeout=deadline_seconds)
    results: dict[str, ImageVerdict | BaseException] = {}
    for text, task in tasks.items():
        if not task.done():
            task.cancel()
            task.add_done_callback(collect)
            results[text] = DeadlineExceeded(
                f"the registry did not answer in time (deadline {deadline_seconds:g}s)",
                f"{text}: verification still running after {deadline_seconds:g}s, cancelled",
            )
        elif task.cancelled():
            results[text] = DeadlineExceeded("verification was cancelled")
        elif (error := task.exception()) is not None:
            if not isinstance(error, SigwebhookError):
                log.error("unexpected error verifying %s", text, exc_info=error)
            else:
                log.info("verifying %s failed: %s", text, error.detail)
            results[text] = error
        else:
            results[text] = task.result()
    return results
