"""Verify one `SignedEntity` against a trusted root and the signers a policy trusts, in numbered steps.

As sigstore-python's `Verifier` and sigstore-go's `Verifier.Verify`, offline:

1. **Signature.** Keys the policy trusts that verify the signature over what it covers; and, when the
   entity carries a certificate and the policy trusts identities, the certificate's own key.
2. **Transparency log.** Every entry from a log of the root is about this signature and proven
   (`log_checks`); with `transparency_log` required, at least one must be.
3. **Time.** Verified RFC 3161 timestamps (`time_checks`) and the integrated times of verified SETs;
   none may lie in the future. A log proven only by its inclusion proof (Rekor v2) must have been
   trusted at those times (or now, when there is none).
4. **Certificate.** For keyless: the chain, SCT and identity at every trusted time (`keyless_checks`).
5. **Policy.** Which trusted signers recognise the evidence (`TrustedSigner.recognises`).

Failures raise `NotVerified` naming the step; success returns what was proven. Pure: the caller hands
in `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.digests import HASH_OBJECTS
from app.core.errors import KeyLoadError, NotVerified
from app.core.trust.identities import CertificateIdentity
from app.core.trust.keys import TrustedKey, trusted_key_from
from app.core.trust.roots import TrustedRoot
from app.core.trust.signers import SignerEvidence, TrustedSigner
from app.core.verification.entities import SignedEntity, SignedMessage
from app.core.verification.keyless_checks import verify_certificate
from app.core.verification.log_checks import FUTURE_TOLERANCE, VerifiedLogEntry, verify_log_entries
from app.core.verification.time_checks import TrustedTime, verify_timestamps

NOT_VERIFIED = "signature does not verify with any trusted key"


@dataclass(frozen=True)
class Requirements:
    """What a policy demands beyond a valid signature. Hashable: part of verdict cache keys."""

    transparency_log: bool = True  # a verified log entry (cosign's default; `ignore` for air-gapped keys)
    sct: bool = True  # an embedded SCT from a trusted CT log, for keyless


@dataclass(frozen=True)
class EntityVerdict:
    """What verifying an entity proved: the recognised signers, the evidence, log entries and times."""

    signers: tuple[TrustedSigner, ...]
    evidence: tuple[SignerEvidence, ...]
    log_entries: tuple[VerifiedLogEntry, ...]
    times: tuple[TrustedTime, ...]

    @property
    def identity(self) -> CertificateIdentity | None:
        return next((e.identity for e in self.evidence if e.identity), None)


def verify_entity(
    entity: SignedEntity,
    root: TrustedRoot,
    signers: Sequence[TrustedSigner],
    requirements: Requirements,
    now: datetime,
) -> EntityVerdict:
    """Run the steps of the module docstring; `NotVerified` at the first that fails."""
    # (1) Signature: with trusted keys, and with the certificate's key when identities are trusted.
    keys = _verifying_keys(entity, signers)
    wants_identity = any(not s.keys for s in signers)
    leaf_key = _certificate_key(entity) if entity.certificate is not None and wants_identity else None
    if not keys and leaf_key is None:
        raise _no_signer(entity, signers)
    verifier_der = entity.certificate_der() or keys[0].der

    # (2) Transparency log.
    entries = verify_log_entries(entity, verifier_der, root, now)
    if requirements.transparency_log and not entries:
        raise NotVerified(
            "tlog", "no verified transparency log entry (the signature is not logged in a trusted log)"
        )

    # (3) Time.
    times = _trusted_times(entity, root, entries, now)

    # (4) Certificate, (5) policy.
    evidence = [SignerEvidence(key=key) for key in keys]
    if leaf_key is not None and entity.certificate is not None:
        identity = verify_certificate(entity.certificate, root, times, requirements.sct)
        evidence.append(SignerEvidence(identity=identity))
    recognised = tuple(s for s in signers if any(s.recognises(e) for e in evidence))
    if not recognised:
        shown = ", ".join(str(e) for e in evidence)
        raise NotVerified("identity", f"signed by {shown}, which the policy does not trust")
    return EntityVerdict(recognised, tuple(evidence), entries, times)


def _verifying_keys(entity: SignedEntity, signers: Sequence[TrustedSigner]) -> list[TrustedKey]:
    found: dict[str, TrustedKey] = {}
    for key in (k for s in signers for k in s.keys):
        if key.fingerprint not in found and _verifies(key, entity):
            found[key.fingerprint] = key
    return list(found.values())


def _certificate_key(entity: SignedEntity) -> TrustedKey:
    assert entity.certificate is not None
    try:
        key = trusted_key_from(entity.certificate.public_key(), "signing certificate")
    except KeyLoadError as exc:
        raise NotVerified("certificate", "signing certificate has an unsupported public key") from exc
    if not _verifies(key, entity):
        raise NotVerified("signature", "signature does not verify with the signing certificate's key")
    return key


def _verifies(key: TrustedKey, entity: SignedEntity) -> bool:
    data = entity.signed_bytes
    if data is not None:
        return key.verify(entity.signature, data)
    assert isinstance(entity.content, SignedMessage)  # a blob known only by its digest
    algorithm = HASH_OBJECTS.get(entity.content.algorithm)
    return algorithm is not None and key.verify_prehashed(entity.signature, entity.content.digest, algorithm)


def _no_signer(entity: SignedEntity, signers: Sequence[TrustedSigner]) -> NotVerified:
    if entity.certificate is None and not any(s.keys for s in signers):
        return NotVerified("key", "signed with a key, but the policy trusts only keyless identities")
    if any(s.keys for s in signers):
        return NotVerified("key", NOT_VERIFIED)
    return NotVerified("signature", "signature does not verify")


def _trusted_times(
    entity: SignedEntity, root: TrustedRoot, entries: Sequence[VerifiedLogEntry], now: datetime
) -> tuple[TrustedTime, ...]:
    stamped = verify_timestamps(entity, root)
    for time in stamped:
        if time.moment > now + FUTURE_TOLERANCE:
            raise NotVerified(
                "timestamp", f"RFC 3161 timestamp {time.moment:%Y-%m-%dT%H:%M:%SZ} is in the future"
            )
    logged = tuple(TrustedTime(e.integrated_time, f"tlog {e.log_url}") for e in entries if e.integrated_time)
    moments = [t.moment for t in stamped] or [now]
    for entry in entries:
        if entry.integrated_time is None and not all(entry.log.valid_for.contains(m) for m in moments):
            raise NotVerified(
                "tlog", f"transparency log {entry.log_url} was not trusted when the entry was made"
            )
    return logged + stamped
