"""The admission decision: from a parsed request, the policy and the current keys, to allow or deny.

`judge` is pure: one image's verification outcome (or error) against the policies that match it
gives that image's outcome. `decide` runs the verifier for every image of the pod concurrently,
inside a deadline, and joins the outcomes: the pod is allowed only when every image is. A deny
message has one line per failing container, naming the container, the image as written and why:

    spec.initContainers[0] (migrate) registry.example.com/db/migrate:2: no signature verified by the keys of policy "prod"

A failure on one image never hides the others; an image still being verified when the deadline
passes is denied saying the registry did not answer in time (fail closed); an unexpected exception
becomes "internal error, see webhook logs" with the traceback in the log only. No I/O here except
through the injected verifier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.core.admission import AdmissionRequest, ContainerImage, Operation
from app.core.digests import Digest
from app.core.errors import DeadlineExceeded, InvalidReference, SigwebhookError
from app.core.keys import TrustedKey
from app.core.keysources import KeySnapshot
from app.core.policy import AdmissionPolicy, Policy, Unmatched
from app.core.references import ImageRef, parse_reference
from app.core.verdicts import ImageVerdict, VerifiedSignature

log = logging.getLogger("sigwebhook.decision")

INTERNAL_ERROR = "internal error, see webhook logs"
DEFAULT_DEADLINE_SECONDS = 8.0


class ImageVerifier(Protocol):
    """What the decision needs from `app.core.verify.Verifier`."""

    async def verify(self, ref: ImageRef, keys: tuple[TrustedKey, ...]) -> ImageVerdict: ...


class Verdict(StrEnum):
    """An image's outcome, as the audit log spells it."""

    VERIFIED = "verified"
    DENIED = "denied"
    EXEMPT = "exempt"
    UNMATCHED_ALLOWED = "unmatched-allowed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ImageOutcome:
    """One container image: what it resolved to, which policies applied, and why it passed or not.

    `signatures` are the verified signatures by keys of the matching policies (format + fingerprint,
    never key material); `reason` is the line shown to the user on a deny."""

    container: ContainerImage
    verdict: Verdict
    reason: str
    reference: ImageRef | None = None
    digest: Digest | None = None
    policies: tuple[str, ...] = ()
    signatures: tuple[VerifiedSignature, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.DENIED

    def line(self) -> str:
        return f"{self.container.label} {self.container.image}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    """The answer to one review: allowed or not, the message for `status.message`, and per image
    outcomes for the audit log. `summary` says in a few words why (for the log)."""

    allowed: bool
    summary: str
    images: tuple[ImageOutcome, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class _Plan:
    """An image that needs verifying: its reference, the policies that apply and their keys."""

    reference: ImageRef
    policies: tuple[Policy, ...]
    keys_by_policy: tuple[frozenset[str], ...]
    keys: tuple[TrustedKey, ...]


async def decide(
    request: AdmissionRequest,
    policy: AdmissionPolicy,
    snapshot: KeySnapshot,
    verifier: ImageVerifier,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> Decision:
    """Decide one review. Never raises for a problem with an image: that becomes its outcome."""
    if request.operation in (Operation.DELETE, Operation.CONNECT):
        return Decision(True, f"{request.operation.value} is not checked")
    if not request.is_pod:
        message = (
            f"sigwebhook reviews pods only, but was called for {request.kind}: "
            "check the rules of the ValidatingWebhookConfiguration"
        )
        return Decision(False, "not a pod", message=message)
    if policy.skips(request.namespace):
        return Decision(True, f"namespace {request.namespace} is skipped")
    to_verify = request.images_to_verify()
    outcomes: dict[ContainerImage, ImageOutcome] = {
        c: ImageOutcome(c, Verdict.UNCHANGED, "image unchanged by this update")
        for c in request.images
        if c not in to_verify
    }
    if not to_verify:
        return Decision(True, "no image changed", images=tuple(outcomes.values()))

    plans: dict[ContainerImage, _Plan] = {}
    for container in to_verify:
        planned = _plan(container, policy, snapshot)
        if isinstance(planned, ImageOutcome):
            outcomes[container] = planned
        else:
            plans[container] = planned
    results = await _verify_all(plans, verifier, deadline_seconds)
    for container, plan in plans.items():
        outcomes[container] = judge(
            container, plan.reference, plan.policies, plan.keys_by_policy, results[str(plan.reference)]
        )
    ordered = tuple(outcomes[c] for c in request.images)  # pod order: containers, init, ephemeral
    failing = [o for o in ordered if not o.allowed]
    if failing:
        return Decision(
            False, f"{len(failing)} image(s) denied", ordered, "\n".join(o.line() for o in failing)
        )
    return Decision(True, "every image allowed", ordered)


def _plan(container: ContainerImage, policy: AdmissionPolicy, snapshot: KeySnapshot) -> _Plan | ImageOutcome:
    """Everything about an image that needs no registry: its reference, exemption, policies, keys."""
    try:
        reference = parse_reference(container.image)
    except InvalidReference as exc:
        return ImageOutcome(container, Verdict.DENIED, exc.reason)
    exemption = policy.exemption_for(reference)
    if exemption is not None:
        return ImageOutcome(container, Verdict.EXEMPT, f"exempt by pattern {exemption}", reference)
    matching = policy.policies_for(reference)
    if not matching:
        if policy.unmatched is Unmatched.ALLOW:
            return ImageOutcome(
                container, Verdict.UNMATCHED_ALLOWED, "no policy matches (unmatched: allow)", reference
            )
        return ImageOutcome(
            container, Verdict.DENIED, "no policy matches this image (unmatched: deny)", reference
        )
    keys: dict[str, TrustedKey] = {}
    keys_by_policy: list[frozenset[str]] = []
    problems: list[str] = []
    for p in matching:
        found = p.keys_in(snapshot)
        if len(found.keys) < p.threshold:
            why = f" ({'; '.join(found.problems)})" if found.problems else ""
            have = "no usable keys" if not found.keys else f"only {len(found.keys)} of {p.threshold} keys"
            problems.append(f'policy "{p.name}" has {have}{why}')
        keys_by_policy.append(found.fingerprints)
        for key in found.keys:
            keys.setdefault(key.fingerprint, key)
    names = tuple(p.name for p in matching)
    if problems:
        return ImageOutcome(container, Verdict.DENIED, "; ".join(problems), reference, policies=names)
    return _Plan(reference, matching, tuple(keys_by_policy), tuple(keys.values()))


def judge(
    container: ContainerImage,
    reference: ImageRef,
    policies: Sequence[Policy],
    keys_by_policy: Sequence[frozenset[str]],
    result: ImageVerdict | BaseException,
) -> ImageOutcome:
    """One image's outcome: every matching policy must count at least `threshold` distinct keys of
    its own among the keys whose signatures verified."""
    names = tuple(p.name for p in policies)
    if isinstance(result, BaseException):
        return ImageOutcome(container, Verdict.DENIED, _error_reason(result), reference, policies=names)
    failures: list[str] = []
    counted: list[VerifiedSignature] = []
    for p, fingerprints in zip(policies, keys_by_policy, strict=True):
        mine = [s for s in result.verified if s.key_fingerprint in fingerprints]
        signers = {s.key_fingerprint for s in mine}
        counted.extend(s for s in mine if s not in counted)
        if not signers:
            failures.append(f'no signature verified by the keys of policy "{p.name}"')
        elif len(signers) < p.threshold:
            failures.append(
                f'{len(signers)} of the {p.threshold} distinct keys policy "{p.name}" requires signed'
            )
    if failures:
        return ImageOutcome(container, Verdict.DENIED, "; ".join(failures), reference, result.digest, names)
    signed_by = ", ".join(dict.fromkeys(s.key_name for s in counted))
    return ImageOutcome(
        container,
        Verdict.VERIFIED,
        f"verified by {signed_by}",
        reference,
        result.digest,
        names,
        tuple(counted),
    )


def _error_reason(error: BaseException) -> str:
    # Our own errors carry a reason safe to show (a timeout says the registry did not answer in
    # time); anything else is a bug whose traceback went to the log.
    if isinstance(error, SigwebhookError):
        return error.reason
    return INTERNAL_ERROR


async def _verify_all(
    plans: dict[ContainerImage, _Plan], verifier: ImageVerifier, deadline_seconds: float
) -> dict[str, ImageVerdict | BaseException]:
    """Verify each distinct reference once, all at the same time, within the deadline."""
    unique = {str(p.reference): p for p in plans.values()}
    tasks = {text: asyncio.ensure_future(verifier.verify(p.reference, p.keys)) for text, p in unique.items()}
    if tasks:
        await asyncio.wait(tasks.values(), timeout=deadline_seconds)
    results: dict[str, ImageVerdict | BaseException] = {}
    for text, task in tasks.items():
        if not task.done():
            task.cancel()
            task.add_done_callback(_swallow)
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


def _swallow(task: asyncio.Future[ImageVerdict]) -> None:
    """Retrieve the outcome of a task cancelled at the deadline so asyncio does not warn about it."""
    if not task.cancelled():
        task.exception()
