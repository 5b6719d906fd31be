"""One image's outcome: plan what to verify (no registry needed), then judge the verifier's answer.

`plan` settles what needs no registry: the reference parses, an exemption applies, which policies
match and which keys they have now, and what the verifier is to trust for all of them at once
(`Trust`). `judge` turns the verifier's verdict (or error) into the image's outcome: every matching
policy must count at least its `threshold` of distinct signers (keys or keyless identities) of its own
among the signatures that verified under its own root and requirements. A failure of an `enforce`
policy denies the image; a failure of only `warn` policies admits it as `warned`, with the same
reasons. A denied or warned outcome carries the class of its reason
(`app.core.admission.refusals.Refusal`) next to the text. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.core.admission.policy import AdmissionPolicy, Mode, Policy, Unmatched
from app.core.admission.refusals import Refusal, refusal_of
from app.core.admission.workloads import ContainerImage
from app.core.digests import Digest
from app.core.errors import InvalidReference, SigwebhookError
from app.core.references import ImageRef, parse_reference
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict, VerifiedSignature, furthest

Grants = frozenset[tuple[str, str]]  # (basis, signer trust_id) pairs a policy counts

INTERNAL_ERROR = "internal error, see webhook logs"
MAX_REASONS_CHARS = 160  # rejection reasons quoted in a "no signature verified" line, "…" past this


class Verdict(StrEnum):
    """An image's outcome, as the audit log spells it. `warned`: it failed, but only policies in
    warn mode, so it is admitted with a warning."""

    VERIFIED = "verified"
    DENIED = "denied"
    WARNED = "warned"
    EXEMPT = "exempt"
    UNMATCHED_ALLOWED = "unmatched-allowed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # the namespace is in skipNamespaces: admitted unverified, and recorded


@dataclass(frozen=True)
class ImageOutcome:
    """One container image: what it resolved to, which policies applied, and why it passed or not.

    `signatures` are the verified signatures that counted for the matching policies (format, signer,
    fingerprint or identity, log entries; never key material); `reason` is the line shown to the user
    on a deny or a warning, and `refusal` its class (set on every denied or warned outcome the core
    makes); `step` the verification step that refused the signatures found, when that is why the
    image failed (a bounded metric label)."""

    container: ContainerImage
    verdict: Verdict
    reason: str
    reference: ImageRef | None = None
    digest: Digest | None = None
    policies: tuple[str, ...] = ()
    signatures: tuple[VerifiedSignature, ...] = ()
    error: BaseException | None = field(default=None, compare=False, repr=False)  # what failed, if any
    step: str | None = None
    refusal: Refusal | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.DENIED

    def line(self) -> str:
        return f"{self.container.label} {self.container.shown}: {self.reason}"


@dataclass(frozen=True)
class Plan:
    """An image that needs verifying: its reference, the policies that apply and what each counts,
    the `trust` to verify with (all of theirs), and the reasons of warn-mode policies that could not
    be checked at all (no usable keys)."""

    reference: ImageRef
    policies: tuple[Policy, ...]
    grants: tuple[Grants, ...]
    trust: Trust
    warned: tuple[str, ...] = ()


def plan(container: ContainerImage, policy: AdmissionPolicy, snapshot: KeySnapshot) -> Plan | ImageOutcome:
    """Everything about an image that needs no registry: its reference, exemption, policies, keys."""
    try:
        reference = parse_reference(container.image)
    except InvalidReference as exc:
        return ImageOutcome(container, Verdict.DENIED, exc.reason, refusal=Refusal.INVALID_REFERENCE)
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
            container, Verdict.DENIED, "no policy matches this image (unmatched: deny)", reference,
            refusal=Refusal.UNMATCHED,
        )  # fmt: skip
    trust = Trust(())
    checkable: list[Policy] = []
    grants: list[Grants] = []
    problems: list[str] = []
    warned: list[str] = []
    for p in matching:
        found = p.keys_in(snapshot)
        available = len(found.keys) + p.distinct_identities
        if available < p.threshold:
            why = f" ({'; '.join(found.problems)})" if found.problems else ""
            words = p.signer_words
            have = f"no usable {words}" if not available else f"only {available} of {p.threshold} {words}"
            (warned if p.mode is Mode.WARN else problems).append(f'policy "{p.name}" has {have}{why}')
            continue
        mine = p.trust(found.keys)
        checkable.append(p)
        grants.append(frozenset((g.basis, s.trust_id) for g in mine.groups for s in g.signers))
        trust = trust.merged(mine)
    names = tuple(p.name for p in matching)
    no_keys = Refusal.NO_USABLE_KEYS
    if problems:
        reason = "; ".join(problems + warned)
        return ImageOutcome(container, Verdict.DENIED, reason, reference, policies=names, refusal=no_keys)
    if not checkable:  # only warn-mode policies, none of which can be checked
        warning = "; ".join(warned)
        return ImageOutcome(container, Verdict.WARNED, warning, reference, policies=names, refusal=no_keys)
    return Plan(reference, tuple(checkable), tuple(grants), trust, tuple(warned))


def judge(
    container: ContainerImage,
    reference: ImageRef,
    policies: Sequence[Policy],
    grants: Sequence[Grants],
    result: ImageVerdict | BaseException,
    warned: Sequence[str] = (),
) -> ImageOutcome:
    """One image's outcome: every matching policy must count at least `threshold` distinct signers of
    its own (its `grants`: signer and the root + requirements it verified under) among the signatures
    that verified. A failure of an `enforce` policy denies; when only `warn` policies failed (`warned`
    carries those already known to: policies without usable signers), the image is WARNED."""
    names = tuple(p.name for p in policies)
    if isinstance(result, BaseException):
        # The error stands for every policy: it only warns when every policy only warns.
        verdict = Verdict.WARNED if all(p.mode is Mode.WARN for p in policies) else Verdict.DENIED
        reason = "; ".join([error_reason(result), *warned])
        return ImageOutcome(
            container, verdict, reason, reference, policies=names, error=result, refusal=refusal_of(result)
        )
    enforced: list[tuple[str, Refusal]] = []
    warnings: list[tuple[str, Refusal]] = [(w, Refusal.NO_USABLE_KEYS) for w in warned]
    counted: list[VerifiedSignature] = []
    for p, granted in zip(policies, grants, strict=True):
        mine = [s for s in result.verified if (s.basis, s.signer) in granted]
        signers = {s.signer for s in mine}
        counted.extend(s for s in mine if s not in counted)
        failures = warnings if p.mode is Mode.WARN else enforced
        words = p.signer_words
        if not signers:
            why, refusal = _why_none(result, {basis for basis, _ in granted}, words)
            failures.append((f'no signature verified by the {words} of policy "{p.name}" ({why})', refusal))
        elif len(signers) < p.threshold:
            failures.append(
                (
                    f'{len(signers)} of the {p.threshold} distinct {words} policy "{p.name}" requires signed',
                    Refusal.TOO_FEW_SIGNERS,
                )
            )
    if enforced or warnings:
        verdict = Verdict.DENIED if enforced else Verdict.WARNED
        failed = enforced + warnings
        reason = "; ".join(text for text, _ in failed)
        step = _refused_step(result, {b for g in grants for b, _ in g}) if not counted else None
        return ImageOutcome(
            container, verdict, reason, reference, result.digest, names, tuple(counted), step=step,
            refusal=failed[0][1],
        )  # fmt: skip
    signed_by = ", ".join(dict.fromkeys(s.signed_by() for s in counted))
    return ImageOutcome(
        container,
        Verdict.VERIFIED,
        f"verified by {signed_by}",
        reference,
        result.digest,
        names,
        tuple(counted),
    )


def _why_none(result: ImageVerdict, bases: set[str], words: str) -> tuple[str, Refusal]:
    """Why none of a policy's signers signed, under its own trust bases, and its class: no signatures
    at all, signatures by signers of other matching policies only, or signatures that failed their
    checks (their distinct reasons, already safe to show; the deny line is escaped as a whole by
    `app.core.admission.decision`)."""
    if any(v.basis in bases for v in result.verified):
        return f"signed only by {words} this policy does not trust", Refusal.UNTRUSTED_SIGNER
    rejected = [r for r in result.rejected if r.concerns(bases)]
    if not rejected:
        if result.verified:
            return "signed only by signers of other policies", Refusal.UNTRUSTED_SIGNER
        return "no signatures found", Refusal.UNSIGNED
    reasons = "; ".join(dict.fromkeys(r.reason for r in rejected))
    if len(reasons) > MAX_REASONS_CHARS:
        reasons = reasons[: MAX_REASONS_CHARS - 1].rstrip() + "…"
    return f"{len(rejected)} signature(s) found: {reasons}", Refusal.INVALID_SIGNATURE


def _refused_step(result: ImageVerdict, bases: set[str]) -> str | None:
    """The step furthest along that refused a signature found under `bases` (None when none said)."""
    return furthest(r.step for r in result.rejected if r.step is not None and r.concerns(bases))


def error_reason(error: BaseException) -> str:
    """The reason shown to the user for a failed verification."""
    # Our own errors carry a reason safe to show (a timeout says the registry did not answer in
    # time); anything else is a bug whose traceback went to the log.
    if isinstance(error, SigwebhookError):
        return error.reason
    return INTERNAL_ERROR
