"""One image's outcome: plan what to verify (no registry needed), then judge the verifier's answer.

`plan` settles what needs no registry: the reference parses, an exemption applies, which policies
match and which keys they have now. `judge` turns the verifier's verdict (or error) into the image's
outcome: every matching policy must count at least its `threshold` of distinct keys of its own among
the signatures that verified. A failure of an `enforce` policy denies the image; a failure of only
`warn` policies admits it as `warned`, with the same reasons. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.core.admission.policy import AdmissionPolicy, Mode, Policy, Unmatched
from app.core.admission.workloads import ContainerImage
from app.core.digests import Digest
from app.core.errors import InvalidReference, SigwebhookError
from app.core.references import ImageRef, parse_reference
from app.core.trust.keys import TrustedKey
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.verdicts import ImageVerdict, VerifiedSignature

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

    `signatures` are the verified signatures by keys of the matching policies (format + fingerprint,
    never key material); `reason` is the line shown to the user on a deny or a warning."""

    container: ContainerImage
    verdict: Verdict
    reason: str
    reference: ImageRef | None = None
    digest: Digest | None = None
    policies: tuple[str, ...] = ()
    signatures: tuple[VerifiedSignature, ...] = ()
    error: BaseException | None = field(default=None, compare=False, repr=False)  # what failed, if any

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.DENIED

    def line(self) -> str:
        return f"{self.container.label} {self.container.image}: {self.reason}"


@dataclass(frozen=True)
class Plan:
    """An image that needs verifying: its reference, the policies that apply and their keys, and the
    reasons of warn-mode policies that could not be checked at all (no usable keys)."""

    reference: ImageRef
    policies: tuple[Policy, ...]
    keys_by_policy: tuple[frozenset[str], ...]
    keys: tuple[TrustedKey, ...]
    warned: tuple[str, ...] = ()


def plan(container: ContainerImage, policy: AdmissionPolicy, snapshot: KeySnapshot) -> Plan | ImageOutcome:
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
    checkable: list[Policy] = []
    keys_by_policy: list[frozenset[str]] = []
    problems: list[str] = []
    warned: list[str] = []
    for p in matching:
        found = p.keys_in(snapshot)
        if len(found.keys) < p.threshold:
            why = f" ({'; '.join(found.problems)})" if found.problems else ""
            have = "no usable keys" if not found.keys else f"only {len(found.keys)} of {p.threshold} keys"
            (warned if p.mode is Mode.WARN else problems).append(f'policy "{p.name}" has {have}{why}')
            continue
        checkable.append(p)
        keys_by_policy.append(found.fingerprints)
        for key in found.keys:
            keys.setdefault(key.fingerprint, key)
    names = tuple(p.name for p in matching)
    if problems:
        reason = "; ".join(problems + warned)
        return ImageOutcome(container, Verdict.DENIED, reason, reference, policies=names)
    if not checkable:  # only warn-mode policies, none of which can be checked
        return ImageOutcome(container, Verdict.WARNED, "; ".join(warned), reference, policies=names)
    return Plan(reference, tuple(checkable), tuple(keys_by_policy), tuple(keys.values()), tuple(warned))


def judge(
    container: ContainerImage,
    reference: ImageRef,
    policies: Sequence[Policy],
    keys_by_policy: Sequence[frozenset[str]],
    result: ImageVerdict | BaseException,
    warned: Sequence[str] = (),
) -> ImageOutcome:
    """One image's outcome: every matching policy must count at least `threshold` distinct keys of
    its own among the keys whose signatures verified. A failure of an `enforce` policy denies; when
    only `warn` policies failed (`warned` carries those already known to), the image is WARNED."""
    names = tuple(p.name for p in policies)
    if isinstance(result, BaseException):
        # The error stands for every policy: it only warns when every policy only warns.
        verdict = Verdict.WARNED if all(p.mode is Mode.WARN for p in policies) else Verdict.DENIED
        reason = "; ".join([error_reason(result), *warned])
        return ImageOutcome(container, verdict, reason, reference, policies=names, error=result)
    enforced: list[str] = []
    warnings: list[str] = list(warned)
    counted: list[VerifiedSignature] = []
    for p, fingerprints in zip(policies, keys_by_policy, strict=True):
        mine = [s for s in result.verified if s.key_fingerprint in fingerprints]
        signers = {s.key_fingerprint for s in mine}
        counted.extend(s for s in mine if s not in counted)
        failures = warnings if p.mode is Mode.WARN else enforced
        if not signers:
            failures.append(f'no signature verified by the keys of policy "{p.name}" ({_why_none(result)})')
        elif len(signers) < p.threshold:
            failures.append(
                f'{len(signers)} of the {p.threshold} distinct keys policy "{p.name}" requires signed'
            )
    if enforced or warnings:
        verdict = Verdict.DENIED if enforced else Verdict.WARNED
        reason = "; ".join(enforced + warnings)
        return ImageOutcome(container, verdict, reason, reference, result.digest, names, tuple(counted))
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


def _why_none(result: ImageVerdict) -> str:
    """Why none of a policy's keys signed: no signatures at all, signatures by keys of other matching
    policies only, or signatures that failed their checks (their distinct reasons, already safe to show;
    the deny line is escaped as a whole by `app.core.admission.decision`)."""
    if result.verified:
        return "signed only by keys this policy does not trust"
    if not result.rejected:
        return "no signatures found"
    reasons = "; ".join(dict.fromkeys(r.reason for r in result.rejected))
    if len(reasons) > MAX_REASONS_CHARS:
        reasons = reasons[: MAX_REASONS_CHARS - 1].rstrip() + "…"
    return f"{len(result.rejected)} signature(s) found: {reasons}"


def error_reason(error: BaseException) -> str:
    """The reason shown to the user for a failed verification."""
    # Our own errors carry a reason safe to show (a timeout says the registry did not answer in
    # time); anything else is a bug whose traceback went to the log.
    if isinstance(error, SigwebhookError):
        return error.reason
    return INTERNAL_ERROR
