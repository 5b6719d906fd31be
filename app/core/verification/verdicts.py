"""What verifying one image found: the signatures that verified and why the others did not.

A verdict is data: the CLI prints it, the webhook turns it into a decision and an audit record, and
a cache can keep it keyed by digest + the whole trust configuration. It never holds key material:
a signature that verified names its signer (`trust_id` and label), the key's fingerprint or the
certificate's identity, and the log entries and times that proved it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.core.digests import Digest
from app.core.errors import NotVerified
from app.core.references import ImageRef
from app.core.trust.identities import CertificateIdentity
from app.core.verification.log_checks import VerifiedLogEntry
from app.core.verification.time_checks import TrustedTime

TLOG_NOTICE = (
    "a transparency log entry is NOT required (like cosign verify --insecure-ignore-tlog); "
    "entries that are present are still checked"
)


def furthest(steps: Iterable[str]) -> str | None:
    """The step furthest along among `steps` (None when there is none), in `NotVerified.STEPS`'s order.
    When several signatures (or trust groups) were refused, that step says the most: "the identity does
    not match" tells more than "no key of another group verifies it"."""
    known = [s for s in steps if s in NotVerified.STEPS]
    return max(known, key=NotVerified.STEPS.index) if known else None


class SignatureFormat(StrEnum):
    """Where a signature was found (docs/formats.md#sig-tag and #v3-bundles)."""

    COSIGN_V2_SIG_TAG = "cosign-v2-sig-tag"  # `sha256-<hex>.sig` manifest, simple-signing layers
    COSIGN_V3_BUNDLE = "cosign-v3-bundle"  # sigstore bundle attached as an OCI 1.1 referrer

    def describe(self) -> str:
        return {
            SignatureFormat.COSIGN_V2_SIG_TAG: "cosign v2 signature (.sig tag)",
            SignatureFormat.COSIGN_V3_BUNDLE: "cosign v3 sigstore bundle (OCI referrer)",
        }[self]


@dataclass(frozen=True)
class VerifiedSignature:
    """One signature that a trusted signer recognised: which format, where, which signer (its
    `trust_id` and label) under which trust `basis`, and the evidence: the key's fingerprint or the
    certificate's identity, the verified log entries and the trusted times."""

    format: SignatureFormat
    signer: str  # `TrustedSigner.trust_id`: what thresholds count
    signer_label: str  # a key's name, or the identity pattern
    location: str  # e.g. "sha256-….sig layer 0" or "referrer sha256:…"
    basis: str = ""  # `trust_groups.basis_of`: the root and requirements it verified under
    key_fingerprint: str | None = None  # the signing key's: the trusted key, or the certificate's
    identity: CertificateIdentity | None = None  # for a keyless signature
    log_entries: tuple[VerifiedLogEntry, ...] = ()
    times: tuple[TrustedTime, ...] = ()

    @property
    def keyless(self) -> bool:
        return self.identity is not None

    def signed_by(self) -> str:
        """The signer as messages name it: the key's name, or the certificate's identity."""
        return str(self.identity) if self.identity is not None else self.signer_label


@dataclass(frozen=True)
class RejectedSignature:
    """One signature object that was found but did not count, and why (safe to show). `step` is the
    verification step that failed (`NotVerified.STEPS`), when one did: a bounded metric label.
    `basis` is set when the signature failed under that trust basis only (it verified under
    another); None means it counts under none."""

    format: SignatureFormat
    location: str
    reason: str
    step: str | None = None
    basis: str | None = None

    def concerns(self, bases: Collection[str]) -> bool:
        """Whether this rejection is about a signature that could have counted under `bases`."""
        return self.basis is None or self.basis in bases


@dataclass(frozen=True)
class ImageVerdict:
    """The outcome of verifying one image against what a `Trust` trusts (keys, keyless identities)."""

    reference: ImageRef  # as given, normalised
    digest: Digest  # the manifest digest that was verified
    verified: tuple[VerifiedSignature, ...]
    rejected: tuple[RejectedSignature, ...]

    @property
    def ok(self) -> bool:
        return bool(self.verified)

    @property
    def signers(self) -> frozenset[str]:
        """Distinct signers (`trust_id`) with at least one valid signature (for thresholds)."""
        return frozenset(v.signer for v in self.verified)

    def reason(self) -> str:
        """One line saying why the image did not verify (or who verified it)."""
        if self.verified:
            first = self.verified[0]
            return f"verified by {first.signed_by()} ({first.format.describe()})"
        if not self.rejected:
            return "no signatures found (neither a cosign .sig tag nor a sigstore bundle referrer)"
        reasons = "; ".join(dict.fromkeys(r.reason for r in self.rejected))
        return f"no signature verified by the trusted signers ({len(self.rejected)} found: {reasons})"
