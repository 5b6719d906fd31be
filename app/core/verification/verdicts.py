"""What verifying one image found: the signatures that verified and why the others did not.

A verdict is data: the CLI prints it, the webhook turns it into a decision and an audit record, and
a cache can keep it keyed by digest + key fingerprints. It never holds key material.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.core.digests import Digest
from app.core.references import ImageRef

TLOG_NOTICE = (
    "transparency log (Rekor) proofs are NOT checked; this is like cosign verify --insecure-ignore-tlog"
)


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
    """One signature that verified: which format, which key (fingerprint and name), where."""

    format: SignatureFormat
    key_fingerprint: str
    key_name: str
    location: str  # e.g. "sha256-….sig layer 0" or "referrer sha256:…"


@dataclass(frozen=True)
class RejectedSignature:
    """One signature object that was found but did not count, and why (safe to show)."""

    format: SignatureFormat
    location: str
    reason: str


@dataclass(frozen=True)
class ImageVerdict:
    """The outcome of verifying one image against a set of keys."""

    reference: ImageRef  # as given, normalised
    digest: Digest  # the manifest digest that was verified
    verified: tuple[VerifiedSignature, ...]
    rejected: tuple[RejectedSignature, ...]

    @property
    def ok(self) -> bool:
        return bool(self.verified)

    @property
    def signer_fingerprints(self) -> frozenset[str]:
        """Distinct keys with at least one valid signature (for "k of n keys" thresholds)."""
        return frozenset(v.key_fingerprint for v in self.verified)

    def reason(self) -> str:
        """One line saying why the image did not verify (or which key verified it)."""
        if self.verified:
            first = self.verified[0]
            return f"verified by {first.key_name} ({first.format.describe()})"
        if not self.rejected:
            return "no signatures found (neither a cosign .sig tag nor a sigstore bundle referrer)"
        reasons = "; ".join(dict.fromkeys(r.reason for r in self.rejected))
        return f"no signature verified by the trusted keys ({len(self.rejected)} found: {reasons})"
