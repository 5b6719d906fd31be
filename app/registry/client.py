"""`OciRegistry`: the core's `Registry` and `RegistryWriter` ports over the OCI distribution spec v1.1.

Reads live here: resolve a tag (`HEAD /v2/<name>/manifests/<tag>`, GET when HEAD names no digest),
`GET /v2/<name>/manifests/<reference>` and `GET /v2/<name>/blobs/<digest>` (may redirect to a CDN), with
every byte acted on checked against its digest. Referrers (`referrers`) and pushes (`uploads`) are
delegated. All HTTP goes through `RegistryTransport.request` (via `RegistryApi`); this module never sees httpx.
"""

from __future__ import annotations

from types import TracebackType

from app.clock import SYSTEM_CLOCK
from app.core import tagreuse
from app.core.digests import Digest
from app.core.errors import ImageNotFound, RegistryProtocolError
from app.core.kits import ExpiringCache, SharedWork
from app.core.ports import MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES, Clock, Descriptor, Manifest
from app.core.references import ImageRef, Repository
from app.registry import referrers, uploads
from app.registry.api import RegistryApi, declared_size, parse_digest_header, path, pull_scope, unexpected
from app.registry.gate import ExchangeGate
from app.registry.indexes import document_media_type
from app.registry.pools import Connect, PoolHealth
from app.registry.replies import RequestStats
from app.registry.settings import RegistrySettings
from app.registry.transport import RegistryTransport

MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
MAX_REUSABLE_TAGS = 10_000  # tag resolutions kept for reuse (the least recently used go first)


class OciRegistry:
    """Reads and writes OCI registries. Use `async with OciRegistry(settings) as registry:` or `aclose()`."""

    def __init__(
        self,
        settings: RegistrySettings,
        clock: Clock | None = None,
        *,
        gate: ExchangeGate | None = None,
        health: PoolHealth | None = None,
        connect: Connect | None = None,
    ) -> None:
        """`gate` bounds the requests in flight (shared by the webhook's clients; by default one of
        this client's own), `health` collects stalled pools (for `/readyz`), and `connect` makes the
        transport of an origin's pool (default: httpx's, with TLS; tests may give `httpx.MockTransport`)."""
        self.settings = settings
        self._transport = RegistryTransport(settings, clock, gate=gate, health=health, connect=connect)
        self._api = RegistryApi(settings, self._transport)
        self._resolving: SharedWork[tuple[Repository, str], Descriptor] = SharedWork()
        # Tags resolved lately, for work that may reuse them (`app.core.tagreuse`).
        self._resolved: ExpiringCache[tuple[Repository, str], Descriptor] = ExpiringCache(
            MAX_REUSABLE_TAGS, clock or SYSTEM_CLOCK
        )

    @property
    def stats(self) -> RequestStats:
        """Counters of the HTTP requests sent so far (for benchmarks and tests)."""
        return self._transport.stats

    async def __aenter__(self) -> OciRegistry:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def ping(self, registry: str) -> None:
        """`GET /v2/`: check the registry is reachable and our credentials work (raises `RegistryError`)."""
        reply = await self._api.call("GET", registry, "/v2/", None, f"the API root of {registry}")
        if reply.status != 200:
            raise RegistryProtocolError(
                f"{registry} answered {reply.explain()} on /v2/: not an OCI registry?"
            )

    # --- Registry --------------------------------------------------------------------------

    async def resolve(self, ref: ImageRef) -> Descriptor:
        """The manifest descriptor `ref` names. A digest reference is returned as given, without a request;
        its `media_type` is then '' and its `size` 0 (unknown): fetch the manifest when they are needed.
        Concurrent resolutions of one tag share one request. A tag's resolution is kept
        `settings.tag_reuse_seconds` and answered again only to work that may reuse it (`app.core.tagreuse`):
        otherwise it is what the registry says now."""
        if ref.digest is not None:
            return Descriptor(media_type="", digest=ref.digest, size=0)
        kept = self._reusable(ref)
        if kept is not None:
            return kept
        assert ref.tag is not None  # ImageRef guarantees a tag or a digest
        return await self._resolving.run((ref.repository, ref.tag), lambda: self._resolve_tag(ref))

    def recent(self, ref: ImageRef) -> Digest | None:
        """The digest `resolve` would answer without a request now, or None."""
        if ref.digest is not None:
            return ref.digest
        kept = self._reusable(ref)
        return None if kept is None else kept.digest

    def _reusable(self, ref: ImageRef) -> Descriptor | None:
        """The kept resolution of tag `ref`, when the work in progress may reuse one."""
        return self._resolved.get((ref.repository, ref.tag or "")) if tagreuse.allowed() else None

    async def _resolve_tag(self, ref: ImageRef) -> Descriptor:
        assert ref.tag is not None
        repository = ref.repository
        reply = await self._api.call(
            "HEAD", repository.registry, path(repository, "manifests", ref.tag), pull_scope(repository),
            f"manifest {ref}", headers={"Accept": MANIFEST_ACCEPT},
        )  # fmt: skip
        if reply.status == 404:
            raise ImageNotFound(
                f"image {ref} not found: {repository.registry} has no manifest for tag {ref.tag!r}"
            )
        header = reply.header("docker-content-digest")
        if reply.status == 200 and header:
            digest = parse_digest_header(header, repository.registry)
            return self._keep(ref, Descriptor(reply.media_type, digest, declared_size(reply)))
        if reply.status not in (200, 405):
            raise unexpected(reply, f"resolving {ref}")
        manifest = await self.fetch_manifest(repository, ref.tag)  # HEAD told us no digest: read and hash
        if manifest is None:
            raise ImageNotFound(
                f"image {ref} not found: {repository.registry} has no manifest for tag {ref.tag!r}"
            )
        return self._keep(ref, Descriptor(manifest.media_type, manifest.digest, len(manifest.data)))

    def _keep(self, ref: ImageRef, resolved: Descriptor) -> Descriptor:
        """Remember a successful resolution for work that may reuse it (a failure is never kept)."""
        self._resolved.put((ref.repository, ref.tag or ""), resolved, self.settings.tag_reuse_seconds)
        return resolved

    async def fetch_manifest(self, repository: Repository, reference: str | Digest) -> Manifest | None:
        """GET a manifest; None on 404. The bytes must hash to the requested digest, or for a tag to the
        `Docker-Content-Digest` the registry sent (sha256 of the bytes when it sent none)."""
        what = f"manifest {repository}{'@' if isinstance(reference, Digest) else ':'}{reference}"
        reply = await self._api.call(
            "GET", repository.registry, path(repository, "manifests", str(reference)), pull_scope(repository), what,
            headers={"Accept": MANIFEST_ACCEPT}, max_bytes=MAX_MANIFEST_BYTES,
        )  # fmt: skip
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise unexpected(reply, f"fetching {what}")
        if isinstance(reference, Digest):
            expected = reference
        else:
            header = reply.header("docker-content-digest")
            expected = parse_digest_header(header, repository.registry) if header else Digest.of(reply.body)
        if not expected.matches(reply.body):
            raise RegistryProtocolError(
                f"{what} from {repository.registry} does not match its digest {expected.short()} "
                f"(the bytes hash to {Digest.of(reply.body, expected.algorithm).short()})"
            )
        return Manifest(document_media_type(reply.body, reply.media_type), expected, reply.body)

    async def fetch_blob(self, repository: Repository, descriptor: Descriptor, max_bytes: int) -> bytes:
        """GET a blob, following redirects (no registry credentials go to another host); the bytes must
        have the descriptor's size and digest, and neither may exceed `max_bytes`."""
        what = f"blob {descriptor.digest.short()} of {repository}"
        if descriptor.size < 0 or descriptor.size > max_bytes:
            raise RegistryProtocolError(
                f"{what} is {descriptor.size} bytes, more than the {max_bytes} allowed"
            )
        reply = await self._api.call(
            "GET", repository.registry, path(repository, "blobs", str(descriptor.digest)), pull_scope(repository), what,
            max_bytes=descriptor.size, follow_redirects=True,
        )  # fmt: skip
        if reply.status == 404:
            raise RegistryProtocolError(
                f"{what} is missing from {repository.registry} although a manifest names it"
            )
        if reply.status != 200:
            raise unexpected(reply, f"fetching {what}")
        if len(reply.body) != descriptor.size or not descriptor.digest.matches(reply.body):
            raise RegistryProtocolError(
                f"{what} from {repository.registry} does not match its descriptor "
                f"({len(reply.body)} bytes hashing to {Digest.of(reply.body, descriptor.digest.algorithm).short()}, "
                f"expected {descriptor.size} bytes)"
            )
        return reply.body

    async def list_referrers(self, repository: Repository, subject: Digest) -> list[Descriptor]:
        """Referrers of `subject`: the referrers API and the `<alg>-<hex>` fallback index, merged
        (`referrers.list_referrers`)."""
        return await referrers.list_referrers(self._api, self.fetch_manifest, repository, subject)

    # --- RegistryWriter ---------------------------------------------------------------------

    async def push_blob(self, repository: Repository, data: bytes, media_type: str) -> Descriptor:
        """Upload `data` unless the registry has it already (`uploads.push_blob`)."""
        return await uploads.push_blob(self._api, repository, data, media_type)

    async def push_manifest(
        self, repository: Repository, data: bytes, media_type: str, tag: str | None
    ) -> Digest:
        """PUT a manifest at `tag`, or at its own digest when `tag` is None; returns the digest."""
        return await uploads.push_manifest(self._api, repository, data, media_type, tag)

    async def supports_referrers_api(self, repository: Repository, subject: Digest) -> bool:
        """True when the registry answers the referrers API with an OCI index."""
        return await referrers.supports_referrers_api(self._api, repository, subject)
