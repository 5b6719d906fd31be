"""Verify one image against trusted keys: find every cosign signature (v2 `.sig` tag and v3 bundle
referrers), check each against every key, and say why each one that does not count was rejected.

Round trips (a cold image): resolve the digest → the `.sig` manifest and the referrer list together →
the payload blobs (v2) and the referrer manifests then bundle blobs (v3), all candidates in parallel,
bounded by `MAX_CONCURRENT_FETCHES`. A payload blob shared by several layers is fetched once.

Failure policy (STYLE.md "fail closed"): resolving the image may raise (`ImageNotFound`,
`RegistryUnavailable`, …). A signature object that is broken or garbage is a `RejectedSignature`, never a
crash. A registry failure while fetching signature objects propagates — it must never read as
"unsigned" — unless some signature already verified; such a partial verdict is not cached.
Transparency-log (Rekor) data is not checked yet (`verdicts.TLOG_NOTICE`). No I/O but the `Registry` port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import dataclass

from app.core.bundles import MessageSignature, parse_bundle
from app.core.digests import Digest
from app.core.dsse import COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, Envelope, parse_statement
from app.core.errors import (
    ConfigError,
    ImageNotFound,
    RegistryProtocolError,
    SignatureFormatError,
    SigwebhookError,
)
from app.core.keys import TrustedKey, fingerprints
from app.core.layouts import (
    CERTIFICATE_ANNOTATION,
    BrokenLayer,
    SignatureLayer,
    is_bundle_artifact,
    parse_referrer_manifest,
    parse_sig_manifest,
)
from app.core.ports import MAX_BUNDLE_BYTES, MAX_PAYLOAD_BYTES, Descriptor, Registry, VerdictCache
from app.core.references import ImageRef, Repository
from app.core.simplesigning import parse_payload
from app.core.verdicts import ImageVerdict, RejectedSignature, SignatureFormat, VerifiedSignature

__all__ = ["COSIGN_SIGN_PREDICATE", "MAX_CONCURRENT_FETCHES", "Verifier", "VerifyOptions"]

MAX_CONCURRENT_FETCHES = 16
_log = logging.getLogger(__name__)
V2 = SignatureFormat.COSIGN_V2_SIG_TAG
V3 = SignatureFormat.COSIGN_V3_BUNDLE
NOT_VERIFIED = "signature does not verify with any trusted key"
KEYLESS_NOTE = " (it carries a certificate: keyless verification is not supported yet)"
Outcome = list[VerifiedSignature] | RejectedSignature  # what checking one signature object found


@dataclass(frozen=True)
class VerifyOptions:
    """What counts as a signature. Hashable: it is part of the verdict cache key."""

    # cosign v3 `verify` accepts any predicate; "signed" means cosign's sign predicate (FORMATS.md §3.3).
    accepted_predicate_types: frozenset[str] = frozenset({COSIGN_SIGN_PREDICATE})
    # A hostile registry must not make us fetch and verify thousands of objects (cosign also caps the
    # signatures it reads since v2.2.4); more than this per format is one rejection.
    max_signatures: int = 100


class Verifier:
    """Verifies images through a `Registry`, optionally remembering verdicts in a `VerdictCache`."""

    def __init__(
        self, registry: Registry, cache: VerdictCache | None = None, options: VerifyOptions | None = None
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._options = options or VerifyOptions()

    @property
    def options(self) -> VerifyOptions:
        return self._options

    async def verify(self, ref: ImageRef, keys: Sequence[TrustedKey]) -> ImageVerdict:
        """The verdict for `ref`: every signature that verified with one of `keys`, and every one that
        did not, with its reason. Raises `ConfigError` for an empty key set and `RegistryError`s as the
        module docstring says."""
        if not keys:
            raise ConfigError("no trusted keys to verify with: an empty key set never admits an image")
        digest = (await self._registry.resolve(ref)).digest  # a digest reference costs no round trip
        key = self.cache_key(ref.repository, digest, keys)
        if self._cache is not None:
            cached = self._cache.get(key)
            if isinstance(cached, ImageVerdict):
                return _rebind(cached, ref, keys)
        verdict, complete = await _Run(self._registry, ref, digest, keys, self._options).collect()
        if complete and self._cache is not None:
            self._cache.put(key, verdict)
        return verdict

    def cache_key(self, repository: Repository, digest: Digest, keys: Sequence[TrustedKey]) -> Hashable:
        """Digest + key fingerprints + options, plus the repository: signatures live beside the image,
        so the same digest in another repository may have other signatures."""
        return ("sigwebhook.verify", repository, digest, fingerprints(keys), self._options)


class _Run:
    """The state of one verification: what was fetched, shared by the candidates that need it."""

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
        self.gate = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
        self.blobs: dict[Digest, asyncio.Task[bytes]] = {}

    async def collect(self) -> tuple[ImageVerdict, bool]:
        """The verdict, and whether it is complete (safe to cache)."""
        try:
            findings = await _gather([(V2, self._v2()), (V3, self._v3())])
        finally:
            for task in self.blobs.values():
                task.cancel()
        verified = [v for v in findings.found if isinstance(v, VerifiedSignature)]
        rejected = [r for r in findings.found if isinstance(r, RejectedSignature)]
        if findings.errors and not verified:
            raise findings.errors[0][1]
        for fmt, error in findings.errors:  # some signature verified: say what could not be checked
            _log.warning(
                "%s: could not check every %s signature: %r", self.ref, fmt.value, error, exc_info=error
            )
            shown = error if isinstance(error, SigwebhookError) else "internal error, see webhook logs"
            where = self.digest.signature_tag if fmt is V2 else f"referrers of {self.digest}"
            rejected.append(RejectedSignature(fmt, where, f"not checked: {shown}"))
        return ImageVerdict(self.ref, self.digest, tuple(verified), tuple(rejected)), not findings.errors

    # --- cosign v2: the `.sig` tag -----------------------------------------------------------------

    async def _v2(self) -> Outcome | _Findings:
        tag = self.digest.signature_tag
        try:
            async with self.gate:
                manifest = await self.registry.fetch_manifest(self.repository, tag)
            if manifest is None:
                return []  # 404: no v2 signatures (cosign SIGNATURE_SPEC)
            layers = parse_sig_manifest(manifest.data)
        except (SignatureFormatError, RegistryProtocolError) as exc:
            return RejectedSignature(V2, tag, f"garbage: {exc.reason}")
        if len(layers) > self.options.max_signatures:
            reason = f"{len(layers)} signature layers, more than the {self.options.max_signatures} allowed"
            return RejectedSignature(V2, tag, reason)
        return await _gather([(V2, self._check_layer(tag, layer)) for layer in layers])

    async def _check_layer(self, tag: str, layer: SignatureLayer | BrokenLayer) -> Outcome:
        location = f"{tag} layer {layer.index}"
        if isinstance(layer, BrokenLayer):
            return RejectedSignature(V2, location, f"garbage: {layer.reason}")
        try:
            signature = layer.signature()
            payload = await self._blob(layer.descriptor, MAX_PAYLOAD_BYTES, "payload")
        except (SignatureFormatError, _Broken) as exc:
            return RejectedSignature(V2, location, _garbage(exc))
        signers = self._signers(signature, payload)
        if not signers:
            keyless = CERTIFICATE_ANNOTATION in layer.annotations
            return RejectedSignature(V2, location, NOT_VERIFIED + (KEYLESS_NOTE if keyless else ""))
        try:
            problem = parse_payload(payload).claims_problem(self.digest)
        except SignatureFormatError as exc:
            return RejectedSignature(V2, location, f"garbage: {exc.reason}")
        if problem:
            return RejectedSignature(V2, location, problem)
        return [VerifiedSignature(V2, k.fingerprint, k.name, location) for k in signers]

    # --- cosign v3: sigstore bundles attached as OCI referrers --------------------------------------

    async def _v3(self) -> Outcome | _Findings:
        try:
            async with self.gate:
                referrers = await self.registry.list_referrers(self.repository, self.digest)
        except RegistryProtocolError as exc:
            return RejectedSignature(V3, f"referrers of {self.digest}", f"garbage: {exc.reason}")
        # Skip what cannot be a bundle (SBOMs, other attachments) without fetching it.
        unique = {r.digest: r for r in referrers}.values()  # an index may list a manifest twice
        candidates = [r for r in unique if is_bundle_artifact(r.artifact_type)]
        if len(candidates) > self.options.max_signatures:
            reason = (
                f"{len(candidates)} bundle referrers, more than the {self.options.max_signatures} allowed"
            )
            return RejectedSignature(V3, f"referrers of {self.digest}", reason)
        return await _gather([(V3, self._check_referrer(r)) for r in candidates])

    async def _check_referrer(self, referrer: Descriptor) -> Outcome:
        location = f"referrer {referrer.digest}"
        try:
            async with self.gate:
                manifest = await self.registry.fetch_manifest(self.repository, referrer.digest)
            if manifest is None:
                return RejectedSignature(V3, location, "referrer manifest is listed but missing")
            layer = parse_referrer_manifest(manifest.data)
            if layer is None:
                return []  # not a sigstore bundle: another kind of attachment
            bundle = parse_bundle(await self._blob(layer, MAX_BUNDLE_BYTES, "bundle"))
        except (SignatureFormatError, RegistryProtocolError, _Broken) as exc:
            return RejectedSignature(V3, location, _garbage(exc))
        if bundle.version < (0, 3):
            return RejectedSignature(
                V3,
                location,
                f"bundle version {bundle.version[0]}.{bundle.version[1]} is older than 0.3, which cosign requires for images",
            )
        if isinstance(bundle.content, MessageSignature):
            return RejectedSignature(
                V3, location, "bundle holds a message signature (signs a blob), not a DSSE image signature"
            )
        return self._check_envelope(bundle.content, location, keyless=bool(bundle.certificates))

    def _check_envelope(self, envelope: Envelope, location: str, keyless: bool) -> Outcome:
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
            return RejectedSignature(
                V3, location, f"DSSE payloadType {envelope.payload_type[:80]!r} is not {IN_TOTO_PAYLOAD_TYPE}"
            )
        signers = self._signers(envelope.signature, envelope.signed_bytes())
        if not signers:
            return RejectedSignature(V3, location, NOT_VERIFIED + (KEYLESS_NOTE if keyless else ""))
        try:
            statement = parse_statement(envelope.payload)
        except SignatureFormatError as exc:
            return RejectedSignature(V3, location, f"garbage: {exc.reason}")
        if statement.subject_for(self.digest) is None:
            return RejectedSignature(V3, location, f"bundle subject does not name the image {self.digest}")
        accepted = self.options.accepted_predicate_types
        if statement.predicate_type not in accepted:
            wanted = " or ".join(sorted(accepted)) or "any accepted type"
            return RejectedSignature(
                V3, location, f"bundle predicateType {statement.predicate_type[:120]} is not {wanted}"
            )
        return [VerifiedSignature(V3, k.fingerprint, k.name, location) for k in signers]

    # --- shared -------------------------------------------------------------------------------------

    def _signers(self, signature: bytes, message: bytes) -> list[TrustedKey]:
        """The distinct keys (by fingerprint) under which `signature` verifies over `message`."""
        found: dict[str, TrustedKey] = {}
        for key in self.keys:
            if key.fingerprint not in found and key.verify(signature, message):
                found[key.fingerprint] = key
        return list(found.values())

    async def _blob(self, descriptor: Descriptor, limit: int, what: str) -> bytes:
        """A blob checked against its descriptor, fetched once per verification however many layers
        name it. Broken blobs raise `_Broken`; registry failures propagate."""
        if descriptor.size > limit:
            raise _Broken(f"{what} blob of {descriptor.size} bytes is larger than the {limit} allowed")
        task = self.blobs.get(descriptor.digest)
        if task is None:
            task = asyncio.ensure_future(self._fetch_blob(descriptor, limit))
            self.blobs[descriptor.digest] = task
        try:
            data = await asyncio.shield(task)
        except (RegistryProtocolError, ImageNotFound) as exc:
            raise _Broken(f"{what} blob {descriptor.digest.short()} could not be read: {exc.reason}") from exc
        if len(data) != descriptor.size or not descriptor.digest.matches(data):
            raise _Broken(f"{what} blob does not match its digest")
        return data

    async def _fetch_blob(self, descriptor: Descriptor, limit: int) -> bytes:
        async with self.gate:
            return await self.registry.fetch_blob(self.repository, descriptor, limit)


class _Broken(Exception):
    """A signature object that exists but cannot be used (becomes a rejection)."""

    @property
    def reason(self) -> str:
        return str(self)


def _garbage(exc: SignatureFormatError | RegistryProtocolError | _Broken) -> str:
    return exc.reason if isinstance(exc, _Broken) else f"garbage: {exc.reason}"


@dataclass
class _Findings:
    """What a group of concurrent checks found, and the registry failures that stopped some of them."""

    found: list[VerifiedSignature | RejectedSignature]
    errors: list[tuple[SignatureFormat, Exception]]


async def _gather(jobs: Sequence[tuple[SignatureFormat, Awaitable[Outcome | _Findings]]]) -> _Findings:
    """Run the checks concurrently and merge what they found, in the order given."""
    results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
    merged = _Findings([], [])
    for (fmt, _), result in zip(jobs, results, strict=True):
        if isinstance(result, _Findings):
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


def _rebind(verdict: ImageVerdict, ref: ImageRef, keys: Sequence[TrustedKey]) -> ImageVerdict:
    """A cached verdict told for `ref`, with the key names the caller uses now."""
    names = {k.fingerprint: k.name for k in keys}
    verified = tuple(
        dataclasses.replace(v, key_name=names.get(v.key_fingerprint, v.key_name)) for v in verdict.verified
    )
    return dataclasses.replace(verdict, reference=ref, verified=verified)
