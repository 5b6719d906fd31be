"""Verify one image against trusted signers: the orchestration. Resolve the digest, run the cosign v2 checks
(`cosign_v2`) and the cosign v3 checks (`cosign_v3`) together, decide what their findings and
failures mean, and remember complete verdicts in the `VerdictCache`.

Round trips (a cold image): resolve the digest → the `.sig` manifest and the referrer list together →
the payload blobs (v2) and the referrer manifests then bundle blobs (v3), all candidates in parallel,
bounded by `MAX_CONCURRENT_FETCHES`. A payload blob shared by several layers is fetched once.

Failure policy (fail closed): resolving the image may raise (`ImageNotFound`,
`RegistryUnavailable`, …). A signature object that is broken or garbage is a `RejectedSignature`, never a
crash. A registry failure while fetching signature objects propagates — it must never read as
"unsigned" — unless some signature already verified; such a partial verdict is not cached.
Transparency-log proofs, certificates and timestamps are checked offline from what the signature
objects carry and the trust groups' roots: a keyless verification costs no registry round trip more
than a key-signed one. No I/O but the `Registry` port; no format knowledge here (it lives in the check
modules).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from app.core.digests import Digest
from app.core.errors import ConfigError, SigwebhookError
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.kits import SharedWork
from app.core.ports import Registry, VerdictCache
from app.core.references import ImageRef
from app.core.verification.context import (
    MAX_CONCURRENT_FETCHES,
    NOT_VERIFIED,
    CheckContext,
    VerifyOptions,
    gather,
)
from app.core.verification.cosign_v2 import check_sig_tag
from app.core.verification.cosign_v3 import check_referrers
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict, RejectedSignature, SignatureFormat, VerifiedSignature

__all__ = [
    "COSIGN_SIGN_PREDICATE",
    "MAX_CONCURRENT_FETCHES",
    "NOT_VERIFIED",
    "Trust",
    "Verifier",
    "VerifyOptions",
]

_log = logging.getLogger(__name__)
V2 = SignatureFormat.COSIGN_V2_SIG_TAG
V3 = SignatureFormat.COSIGN_V3_BUNDLE


class Verifier:
    """Verifies images through a `Registry`, optionally remembering verdicts in a `VerdictCache`.
    `now` is the clock the checks judge "in the future" by (certificates are judged at signing time).

    Concurrent verifications of one image (repository, digest, trust configuration and options) share
    one run, which finishes even when the reviews waiting for it gave up, so its verdict is cached for
    the next. A cached verdict is answered at once; one the cache says is about to expire is verified
    again in the background meanwhile."""

    def __init__(
        self,
        registry: Registry,
        cache: VerdictCache | None = None,
        options: VerifyOptions | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._options = options or VerifyOptions()
        self._options_key = f"sigwebhook.verify {self._options!r}"
        self._running: SharedWork[Hashable, ImageVerdict] = SharedWork()
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def options(self) -> VerifyOptions:
        return self._options

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        """The verdict for `ref`: every signature a signer of `trust` recognised, and every one that
        none did, with its reason. Raises `ConfigError` when nothing is trusted and `RegistryError`s as
        the module docstring says."""
        if not trust.signers:
            raise ConfigError("no trusted keys or identities to verify with: nothing trusted never admits")
        digest = ref.digest or (await self._registry.resolve(ref)).digest  # a digest: no round trip
        found = self._from_cache(ref, digest, trust)
        if found is not None:
            return found
        key = self.cache_key(ref, digest, trust)
        run = functools.partial(self._verify_now, key, ref, digest, trust)
        return _rebind(await self._running.run(key, run), ref, trust)

    def cached(self, ref: ImageRef, trust: Trust) -> ImageVerdict | None:
        """The verdict `verify` would answer at once from the cache, or None when it would have to
        wait: a digest reference, or a tag the registry has a reusable resolution of
        (`Registry.recent`), whose verdict is cached. Starts the same background refresh."""
        if not trust.signers:
            return None
        digest = ref.digest or self._registry.recent(ref)
        return None if digest is None else self._from_cache(ref, digest, trust)

    def _from_cache(self, ref: ImageRef, digest: Digest, trust: Trust) -> ImageVerdict | None:
        if self._cache is None:
            return None
        key = self.cache_key(ref, digest, trust)
        cached = self._cache.get(key)
        if not isinstance(cached, ImageVerdict):
            return None
        if key not in self._running and self._cache.refresh_due(key):
            run = functools.partial(self._verify_now, key, ref, digest, trust)
            self._running.start(key, run).add_done_callback(_refresh_failed)
        return _rebind(cached, ref, trust)

    def cache_key(self, ref: ImageRef, digest: Digest, trust: Trust) -> Hashable:
        """Digest + the whole trust configuration (root digests, requirements, signers) + options,
        plus the repository: signatures live beside the image, so the same digest in another
        repository may have other signatures. Three strings (each keeps its hash: a look-up hashes
        the key), the last two shared by every entry."""
        subject = str(ref) if ref.tag is None and ref.digest == digest else f"{ref.repository}@{digest}"
        return (subject, trust.cache_key(), self._options_key)

    async def _verify_now(self, key: Hashable, ref: ImageRef, digest: Digest, trust: Trust) -> ImageVerdict:
        context = CheckContext(self._registry, ref, digest, trust, self._options, self._now())
        verdict, complete = await _collect(context)
        if complete and self._cache is not None:
            self._cache.put(key, verdict)
        return verdict


async def _collect(context: CheckContext) -> tuple[ImageVerdict, bool]:
    """The verdict, and whether it is complete (safe to cache): both formats checked concurrently."""
    try:
        findings = await gather([(V2, check_sig_tag(context)), (V3, check_referrers(context))])
    finally:
        context.close()
    verified = [v for v in findings.found if isinstance(v, VerifiedSignature)]
    rejected = [r for r in findings.found if isinstance(r, RejectedSignature)]
    if findings.errors and not verified:
        raise findings.errors[0][1]
    for fmt, error in findings.errors:  # some signature verified: say what could not be checked
        _log.warning(
            "%s: could not check every %s signature: %r", context.ref, fmt.value, error, exc_info=error
        )
        shown = error if isinstance(error, SigwebhookError) else "internal error, see webhook logs"
        where = context.digest.signature_tag if fmt is V2 else f"referrers of {context.digest}"
        rejected.append(RejectedSignature(fmt, where, f"not checked: {shown}"))
    verdict = ImageVerdict(context.ref, context.digest, tuple(verified), tuple(rejected))
    return verdict, not findings.errors


def _refresh_failed(done: asyncio.Future[ImageVerdict]) -> None:
    """Log why a background refresh failed (the cached verdict then expires as usual)."""
    if not done.cancelled() and isinstance(error := done.exception(), SigwebhookError):
        _log.info("refreshing a cached verdict failed: %s", error.detail)


def _rebind(verdict: ImageVerdict, ref: ImageRef, trust: Trust) -> ImageVerdict:
    """A cached or shared verdict told for `ref`, with the signer names the caller uses now (the
    verdict itself when both are what it says already: the usual case, and no copy)."""
    names = trust.labels()
    if verdict.reference == ref and all(
        names.get(v.signer, v.signer_label) == v.signer_label for v in verdict.verified
    ):
        return verdict
    verified = tuple(
        dataclasses.replace(v, signer_label=names.get(v.signer, v.signer_label)) for v in verdict.verified
    )
    return dataclasses.replace(verdict, reference=ref, verified=verified)
