"""What the signature checks of one verification share: bounded registry reads, entity checks, findings.

`CheckContext` carries the image digest, the `Trust` and the options, bounds concurrent registry
calls (`MAX_CONCURRENT_FETCHES`) and fetches a blob once however many candidates name it. The format
checks (`cosign_v2` for cosign v2, `cosign_v3` for cosign v3) turn each candidate into a
`SignedEntity` and hand it to `CheckContext.verify_entity`, which runs the entity checks
(`entity_checks`) once per trust group. They return an `Outcome` per candidate; `gather` runs them
concurrently and merges what they found, collecting registry failures instead of raising them so that
the `verifier` alone decides what a failure means. A broken object is a rejection (`Broken`), never a
crash. No I/O but the `Registry` port; no policy here.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.core.digests import Digest
from app.core.errors import (
    ImageNotFound,
    NotVerified,
    RegistryProtocolError,
    SignatureFormatError,
    SigwebhookError,
)
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.ports import Descriptor, Manifest, Registry
from app.core.references import ImageRef
from app.core.verification.entities import SignedEntity
from app.core.verification.entity_checks import NOT_VERIFIED, EntityVerdict, verify_entity
from app.core.verification.trust_groups import Trust, TrustGroup
from app.core.verification.verdicts import RejectedSignature, SignatureFormat, VerifiedSignature, furthest

__all__ = ["NOT_VERIFIED"]

MAX_CONCURRENT_FETCHES = 16
# What checking one signature object found: the signers that recognised it (and, beside them, why it
# failed under the other trust groups), or why it counts under none.
Outcome = list[VerifiedSignature | RejectedSignature] | RejectedSignature


@dataclass(frozen=True)
class VerifyOptions:
    """What counts as a signature. Hashable: it is part of the verdict cache key."""

    # cosign v3 `verify` accepts any predicate; "signed" means cosign's sign predicate
    # (docs/formats.md#v3-verify).
    accepted_predicate_types: frozenset[str] = frozenset({COSIGN_SIGN_PREDICATE})
    # A hostile registry must not make us fetch and verify thousands of objects (cosign also caps the
    # signatures it reads since v2.2.4); more than this per format is one rejection.
    max_signatures: int = 100


class Broken(SigwebhookError):
    """A signature object that exists but cannot be used. The checks turn it into a rejection; it is
    typed only so that it could never surface as anything but a reason."""


def garbage(exc: SignatureFormatError | RegistryProtocolError | Broken) -> str:
    """The rejection reason for an object that could not be read."""
    return exc.reason if isinstance(exc, Broken) else f"garbage: {exc.reason}"


def verified_by(
    fmt: SignatureFormat, location: str, group: TrustGroup, entity: SignedEntity, verdict: EntityVerdict
) -> list[VerifiedSignature]:
    """One `VerifiedSignature` per signer of `group` that recognised the entity at `location`. The
    fingerprint is the signing key's: the trusted key, or the key in the Fulcio certificate."""
    certificate_key = fingerprint_of(entity.certificate) if entity.certificate is not None else None
    found = []
    for signer in verdict.signers:
        evidence = next(e for e in verdict.evidence if signer.recognises(e))
        found.append(
            VerifiedSignature(
                fmt,
                signer.trust_id,
                signer.label,
                location,
                group.basis,
                key_fingerprint=evidence.key.fingerprint if evidence.key is not None else certificate_key,
                identity=evidence.identity,
                log_entries=verdict.log_entries,
                times=verdict.times,
            )
        )
    return found


def fingerprint_of(certificate: x509.Certificate) -> str:
    """sha256:<hex> of the certificate's SubjectPublicKeyInfo, as a key's fingerprint."""
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


class CheckContext:
    """The state of one verification, shared by every candidate signature object."""

    def __init__(
        self,
        registry: Registry,
        ref: ImageRef,
        digest: Digest,
        trust: Trust,
        options: VerifyOptions,
        now: datetime,
    ) -> None:
        self.registry, self.ref, self.repository = registry, ref, ref.repository
        self.digest, self.trust, self.options, self.now = digest, trust, options, now
        self._gate = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
        self._blobs: dict[Digest, asyncio.Task[bytes]] = {}

    def close(self) -> None:
        """Cancel blob fetches nobody waits for any more."""
        for task in self._blobs.values():
            task.cancel()

    def too_many(self, count: int, what: str) -> str | None:
        """Why `count` candidates are more than this verification checks (None when they are not)."""
        limit = self.options.max_signatures
        return f"{count} {what}, more than the {limit} allowed" if count > limit else None

    async def fetch_manifest(self, reference: str | Digest) -> Manifest | None:
        async with self._gate:
            return await self.registry.fetch_manifest(self.repository, reference)

    async def list_referrers(self) -> list[Descriptor]:
        async with self._gate:
            return await self.registry.list_referrers(self.repository, self.digest)

    async def blob(self, descriptor: Descriptor, limit: int, what: str) -> bytes:
        """A blob checked against its descriptor, fetched once per verification however many candidates
        name it. Broken blobs raise `Broken`; registry failures propagate."""
        if descriptor.size > limit:
            raise Broken(f"{what} blob of {descriptor.size} bytes is larger than the {limit} allowed")
        task = self._blobs.get(descriptor.digest)
        if task is None:
            task = asyncio.ensure_future(self._fetch_blob(descriptor, limit))
            self._blobs[descriptor.digest] = task
        try:
            data = await asyncio.shield(task)
        except (RegistryProtocolError, ImageNotFound) as exc:
            raise Broken(f"{what} blob {descriptor.digest.short()} could not be read: {exc.reason}") from exc
        if len(data) != descriptor.size or not descriptor.digest.matches(data):
            raise Broken(f"{what} blob does not match its digest")
        return data

    def verify_entity(self, fmt: SignatureFormat, location: str, entity: SignedEntity) -> Outcome:
        """The signers that recognise `entity`, each group checked on its own (`entity_checks`), with
        the reasons it failed under the other groups; when no group accepts it, the rejection from
        the step that got furthest."""
        verified: list[VerifiedSignature] = []
        refusals: list[tuple[TrustGroup, NotVerified]] = []
        for group in self.trust.groups:
            try:
                verdict = verify_entity(entity, group.root, group.signers, group.requirements, self.now)
            except NotVerified as exc:
                refusals.append((group, exc))
                continue
            verified.extend(verified_by(fmt, location, group, entity, verdict))
        if verified or not refusals:
            others = [RejectedSignature(fmt, location, e.reason, e.step, g.basis) for g, e in refusals]
            return [*verified, *others]
        step = furthest(exc.step for _, exc in refusals)
        chosen = next(exc for _, exc in refusals if exc.step == step)
        return RejectedSignature(fmt, location, chosen.reason, chosen.step)

    async def _fetch_blob(self, descriptor: Descriptor, limit: int) -> bytes:
        async with self._gate:
            return await self.registry.fetch_blob(self.repository, descriptor, limit)


@dataclass
class Findings:
    """What a group of concurrent checks found, and the registry failures that stopped some of them."""

    found: list[VerifiedSignature | RejectedSignature]
    errors: list[tuple[SignatureFormat, Exception]]


async def gather(jobs: Sequence[tuple[SignatureFormat, Awaitable[Outcome | Findings]]]) -> Findings:
    """Run the checks concurrently and merge what they found, in the order given."""
    results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
    merged = Findings([], [])
    for (fmt, _), result in zip(jobs, results, strict=True):
        if isinstance(result, Findings):
            merged.found.extend(result.found)
            merged.errors.extend(result.errors)
        elif isinstance(result, RejectedSignature):
            merged.found.append(result)
        elif isinstance(result, list):
            merged.found.extend(result)
        elif isinstance(result, Exception):
            merged.errors.append((fmt, result))
        else:
            raise result  # cancellation and other BaseExceptions are not findings
    return merged
