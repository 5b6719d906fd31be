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

import dataclasses
import logging
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from app.core.digests import Digest
from app.core.errors import ConfigError, SigwebhookError
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.ports import Registry, VerdictCache
from app.core.references import ImageRef, Repository
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
    `now` is the clock the checks judge "in the future" by (certificates are judged at signing time)."""

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
        digest = (await self._registry.resolve(ref)).digest  # a digest reference costs no round trip
        key = self.cache_key(ref.repository, digest, trust)
        if self._cache is not None:
            cached = self._cache.get(key)
            if isinstance(cached, ImageVerdict):
                return _rebind(cached, ref, trust)
        context = CheckContext(self._registry, ref, digest, trust, self._options, self._now())
        verdict, complete = await _collect(context)
        if complete and self._cache is not None:
            self._cache.put(key, verdict)
        return verdict

    def cache_key(self, repository: Repository, digest: Digest, trust: Trust) -> Hashable:
        """Digest + the whole trust configuration (root digests, requirements, signers) + options,
        plus the repository: signatures live beside the image, so the same digest in another
        repository may have other signatures."""
        return ("sigwebhook.verify", repository, digest, trust.cache_key(), self._options)


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


def _rebind(verdict: ImageVerdict, ref: ImageRef, trust: Trust) -> ImageVerdict:
    """A cached verdict told for `ref`, with the signer names the caller uses now."""
    names = trust.labels()
    verified = tuple(
        dataclasses.replace(v, signer_label=names.get(v.signer, v.signer_label)) for v in verdict.verified
    )
    return dataclasses.replace(verdict, reference=ref, verified=verified)
