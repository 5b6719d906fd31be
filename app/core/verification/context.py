"""What the signature checks of one verification share: bounded registry reads, key matching, findings.

`CheckContext` carries the image digest, the trusted keys and the options, bounds concurrent registry
calls (`MAX_CONCURRENT_FETCHES`) and fetches a blob once however many candidates name it. The format
checks (`cosign_v2` for cosign v2, `cosign_v3` for cosign v3) return an `Outcome` per candidate;
`gather` runs them concurrently and merges what they found, collecting registry failures instead of
raising them so that the `verifier` alone decides what a failure means. A broken object is a rejection
(`Broken`), never a crash. No I/O but the `Registry` port; no policy here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from app.core.digests import Digest
from app.core.errors import ImageNotFound, RegistryProtocolError, SignatureFormatError, SigwebhookError
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.ports import Descriptor, Manifest, Registry
from app.core.references import ImageRef
from app.core.trust.keys import TrustedKey
from app.core.verification.verdicts import RejectedSignature, SignatureFormat, VerifiedSignature

MAX_CONCURRENT_FETCHES = 16
NOT_VERIFIED = "signature does not verify with any trusted key"
KEYLESS_NOTE = " (it carries a certificate: keyless verification is not supported yet)"
Outcome = list[VerifiedSignature] | RejectedSignature  # what checking one signature object found


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
    fmt: SignatureFormat, signers: Sequence[TrustedKey], location: str
) -> list[VerifiedSignature]:
    """One `VerifiedSignature` per key that verified the signature at `location`."""
    return [VerifiedSignature(fmt, key.fingerprint, key.name, location) for key in signers]


def not_verified(fmt: SignatureFormat, location: str, keyless: bool) -> RejectedSignature:
    """The rejection of a signature no trusted key verifies (saying so when it carries a certificate)."""
    return RejectedSignature(fmt, location, NOT_VERIFIED + (KEYLESS_NOTE if keyless else ""))


class CheckContext:
    """The state of one verification, shared by every candidate signature object."""

    def __init__(
        self,
        registry: Registry,
        ref: ImageRef,
        digest: Digest,
        keys: Sequence[TrustedKey],
        options: VerifyOptions,
    ) -> None:
        self.registry, self.ref, self.repository = registry, ref, ref.repository
        self.digest, self.keys, self.options = digest, tuple(keys), options
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

    def signers(self, signature: bytes, message: bytes) -> list[TrustedKey]:
        """The distinct keys (by fingerprint) under which `signature` verifies over `message`."""
        found: dict[str, TrustedKey] = {}
        for key in self.keys:
            if key.fingerprint not in found and key.verify(signature, message):
                found[key.fingerprint] = key
        return list(found.values())

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
