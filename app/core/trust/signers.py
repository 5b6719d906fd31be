"""Is this signer trusted? The one small protocol keys and keyless identities both implement.

Verification proves *who* signed — the long-lived key that verified the signature, or the identity in a
Fulcio certificate that chained to a trusted CA at signing time (`SignerEvidence`). A policy then asks
each of its `TrustedSigner`s whether it recognises that evidence. A signer is counted once toward a
threshold, by its `trust_id`, however many signatures it made. Keys bring their public key to the
signature check (`keys`); identities bring none, since the certificate carries the key. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.core.trust.identities import CertificateIdentity, IdentityMatcher
from app.core.trust.keys import TrustedKey


@dataclass(frozen=True)
class SignerEvidence:
    """Who verification proved signed: a trusted key, or a certificate identity (never both)."""

    key: TrustedKey | None = None
    identity: CertificateIdentity | None = None

    def __str__(self) -> str:
        return str(self.identity) if self.identity else (self.key.name if self.key else "nobody")


class TrustedSigner(Protocol):
    """A key or a keyless identity that a policy trusts."""

    @property
    def trust_id(self) -> str:
        """Stable and unique: what thresholds count and verdict cache keys hold."""
        ...

    @property
    def label(self) -> str:
        """How messages and audit lines name it."""
        ...

    @property
    def keys(self) -> tuple[TrustedKey, ...]:
        """Public keys to check signatures with (none for an identity)."""
        ...

    def recognises(self, evidence: SignerEvidence) -> bool:
        """True when `evidence` shows this signer signed."""
        ...


@dataclass(frozen=True)
class KeySigner:
    """A long-lived public key (cosign `--key`)."""

    key: TrustedKey

    @property
    def trust_id(self) -> str:
        return f"key:{self.key.fingerprint}"

    @property
    def label(self) -> str:
        return self.key.name

    @property
    def keys(self) -> tuple[TrustedKey, ...]:
        return (self.key,)

    def recognises(self, evidence: SignerEvidence) -> bool:
        return evidence.key is not None and evidence.key.fingerprint == self.key.fingerprint


@dataclass(frozen=True)
class IdentitySigner:
    """A keyless identity (cosign `--certificate-identity…` / `--certificate-oidc-issuer…`)."""

    matcher: IdentityMatcher

    @property
    def trust_id(self) -> str:
        subject, issuer = self.matcher.subject, self.matcher.issuer
        return f"keyless:{subject.is_regexp:d}:{subject.text}\n{issuer.is_regexp:d}:{issuer.text}"

    @property
    def label(self) -> str:
        return str(self.matcher)

    @property
    def keys(self) -> tuple[TrustedKey, ...]:
        return ()

    def recognises(self, evidence: SignerEvidence) -> bool:
        return evidence.identity is not None and self.matcher.matches(evidence.identity)
