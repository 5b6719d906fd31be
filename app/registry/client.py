"""`OciRegistry`: the `Registry` and `RegistryWriter` ports over the OCI distribution spec v1.1, with httpx.

Endpoints (distribution-spec `spec.md`): `HEAD|GET /v2/<name>/manifests/<reference>`, `GET
/v2/<name>/blobs/<digest>` (may redirect to a CDN), `GET /v2/<name>/referrers/<digest>` with the
referrers tag schema (`<alg>-<hex>` index) as fallback, `POST /v2/<name>/blobs/uploads/` then `PUT
<location>?digest=` (monolithic upload), `PUT /v2/<name>/manifests/<reference>`. Every byte acted on
is checked against its digest. All HTTP goes through `RegistryTransport.request`; this module only
speaks the protocol and never sees httpx.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from types import TracebackType

from app.core.digests import Digest
from app.core.errors import (
    ImageNotFound,
    InvalidDigest,
    RegistryError,
    RegistryProtocolError,
    RegistryWriteError,
)
from app.core.ports import MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES, OCI_INDEX, Clock, Descriptor, Manifest
from app.core.references import ImageRef, Repository
from app.registry.indexes import document_media_type, index_descriptors
from app.registry.replies import Reply, RequestStats
from app.registry.settings import RegistrySettings
from app.registry.transport import RegistryTransport

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
_REFERRERS_ABSENT = frozenset(
    {400, 404, 405, 501}
)  # "no referrers API" (spec: fall back on 404; 400 seen too)


class OciRegistry:
    """Reads and writes OCI registries. Use `async with OciRegistry(settings) as registry:` or `aclose()`."""

    def __init__(self, settings: RegistrySettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self._transport = RegistryTransport(settings, clock)

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
        reply = await self._request("GET", registry, "/v2/", None, f"the API root of {registry}")
        if reply.status != 200:
            raise RegistryProtocolError(
                f"{registry} answered {reply.explain()} on /v2/: not an OCI registry?"
            )

    # --- Registry --------------------------------------------------------------------------

    async def resolve(self, ref: ImageRef) -> Descriptor:
        """The manifest descriptor `ref` names. A digest reference is returned as given, without a request;
        its `media_type` is then '' and its `size` 0 (unknown): fetch the manifest when they are needed."""
        if ref.digest is not None:
            return Descriptor(media_type="", digest=ref.digest, size=0)
        assert ref.tag is not None  # ImageRef guarantees a tag or a digest
        repository = ref.repository
        reply = await self._request(
            "HEAD", repository.registry, _path(repository, "manifests", ref.tag), _pull(repository),
            f"manifest {ref}", headers={"Accept": MANIFEST_ACCEPT},
        )  # fmt: skip
        if reply.status == 404:
            raise ImageNotFound(
                f"image {ref} not found: {repository.registry} has no manifest for tag {ref.tag!r}"
            )
        header = reply.header("docker-content-digest")
        if reply.status == 200 and header:
            size = reply.header("content-length") or ""
            return Descriptor(
                reply.media_type, self._parse_digest(header, repository), int(size) if size.isdigit() else 0
            )
        if reply.status not in (200, 405):
            raise _unexpected(reply, f"resolving {ref}")
        manifest = await self.fetch_manifest(repository, ref.tag)  # HEAD told us no digest: read and hash
        if manifest is None:
            raise ImageNotFound(
                f"image {ref} not found: {repository.registry} has no manifest for tag {ref.tag!r}"
            )
        return Descriptor(manifest.media_type, manifest.digest, len(manifest.data))

    async def fetch_manifest(self, repository: Repository, reference: str | Digest) -> Manifest | None:
        """GET a manifest; None on 404. The bytes must hash to the requested digest, or for a tag to the
        `Docker-Content-Digest` the registry sent (sha256 of the bytes when it sent none)."""
        what = f"manifest {repository}{'@' if isinstance(reference, Digest) else ':'}{reference}"
        reply = await self._request(
            "GET", repository.registry, _path(repository, "manifests", str(reference)), _pull(repository), what,
            headers={"Accept": MANIFEST_ACCEPT}, max_bytes=MAX_MANIFEST_BYTES,
        )  # fmt: skip
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise _unexpected(reply, f"fetching {what}")
        if isinstance(reference, Digest):
            expected = reference
        else:
            header = reply.header("docker-content-digest")
            expected = self._parse_digest(header, repository) if header else Digest.of(reply.body)
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
        reply = await self._request(
            "GET", repository.registry, _path(repository, "blobs", str(descriptor.digest)), _pull(repository), what,
            max_bytes=descriptor.size, follow_redirects=True,
        )  # fmt: skip
        if reply.status == 404:
            raise RegistryProtocolError(
                f"{what} is missing from {repository.registry} although a manifest names it"
            )
        if reply.status != 200:
            raise _unexpected(reply, f"fetching {what}")
        if len(reply.body) != descriptor.size or not descriptor.digest.matches(reply.body):
            raise RegistryProtocolError(
                f"{what} from {repository.registry} does not match its descriptor "
                f"({len(reply.body)} bytes hashing to {Digest.of(reply.body, descriptor.digest.algorithm).short()}, "
                f"expected {descriptor.size} bytes)"
            )
        return reply.body

    async def list_referrers(self, repository: Repository, subject: Digest) -> list[Descriptor]:
        """Referrers of `subject`: the referrers API and the `<alg>-<hex>` fallback index, asked together.

        Both lists are merged (the API's first, duplicates dropped): a registry without the API answers
        404 there, and a signer may have used the tag schema even where the API exists. A missing fallback
        tag is an empty list. An error on one source is ignored when the other answered."""
        results = await asyncio.gather(
            self._referrers_api(repository, subject),
            self._referrers_tag(repository, subject),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, RegistryError):
                raise result  # a bug or a cancellation, not a registry answer: never swallow it
        api, tagged = results
        if isinstance(tagged, RegistryError) and not isinstance(api, list):
            raise tagged  # the fallback is the only source left
        for failed in (api, tagged):
            if isinstance(failed, RegistryError):
                log.info(
                    "referrers of %s in %s: one source failed: %s", subject.short(), repository, failed.detail
                )
        merged: dict[Digest, Descriptor] = {}
        for found in (api, tagged):
            if isinstance(found, list):
                for descriptor in found:
                    merged.setdefault(descriptor.digest, descriptor)
        return list(merged.values())

    async def _referrers_api(self, repository: Repository, subject: Digest) -> list[Descriptor] | None:
        reply = await self._referrers_reply(repository, subject)
        if reply.status in _REFERRERS_ABSENT:
            return None
        if reply.status != 200:
            raise _unexpected(reply, f"listing referrers of {subject.short()} in {repository}")
        return index_descriptors(
            reply.body, reply.media_type, f"referrers of {subject.short()} in {repository}"
        )

    async def _referrers_tag(self, repository: Repository, subject: Digest) -> list[Descriptor]:
        manifest = await self.fetch_manifest(repository, subject.tag_prefix)
        if manifest is None:
            return []
        found = index_descriptors(manifest.data, manifest.media_type, f"{repository}:{subject.tag_prefix}")
        if found is None:
            log.info("%s:%s is not an OCI index; no referrers taken from it", repository, subject.tag_prefix)
        return found or []

    async def _referrers_reply(self, repository: Repository, subject: Digest) -> Reply:
        return await self._request(
            "GET", repository.registry, _path(repository, "referrers", str(subject)), _pull(repository),
            f"referrers of {subject.short()} in {repository}", headers={"Accept": OCI_INDEX},
            max_bytes=MAX_MANIFEST_BYTES,
        )  # fmt: skip

    # --- RegistryWriter ---------------------------------------------------------------------

    async def push_blob(self, repository: Repository, data: bytes, media_type: str) -> Descriptor:
        """Upload `data` monolithically (POST, then PUT `?digest=`), skipped when the blob already exists."""
        digest = Digest.of(data)
        descriptor = Descriptor(media_type, digest, len(data))
        what = f"blob {digest.short()} to {repository}"
        blob_path = _path(repository, "blobs", str(digest))
        head = await self._request("HEAD", repository.registry, blob_path, _push(repository), what)
        if head.status == 200:
            return descriptor
        started = await self._request(
            "POST", repository.registry, _path(repository, "blobs", "uploads") + "/", _push(repository), what
        )
        location = started.header("location")
        if started.status != 202 or not location:
            raise _refused(started, f"starting the upload of {what}")
        base = self.settings.base_url(repository.registry) + _path(repository, "blobs", "uploads") + "/"
        url = _with_query(urllib.parse.urljoin(base, location), "digest", str(digest))
        done = await self._transport.request(
            "PUT", url, registry=repository.registry, scope=_push(repository), what=what, content=data,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        if done.status != 201:
            raise _refused(done, f"uploading {what}")
        return descriptor

    async def push_manifest(
        self, repository: Repository, data: bytes, media_type: str, tag: str | None
    ) -> Digest:
        """PUT a manifest at `tag`, or at its own digest when `tag` is None; returns the digest."""
        digest = Digest.of(data)
        reference = tag if tag is not None else str(digest)
        what = f"manifest {repository}{':' if tag else '@'}{reference}"
        reply = await self._request(
            "PUT", repository.registry, _path(repository, "manifests", reference), _push(repository), what,
            headers={"Content-Type": media_type}, content=data,
        )  # fmt: skip
        if reply.status != 201:
            raise _refused(reply, f"pushing {what}")
        stored = reply.header("docker-content-digest")
        if stored and self._parse_digest(stored, repository) != digest:
            raise RegistryProtocolError(
                f"{repository.registry} stored {what} under another digest ({stored})"
            )
        return digest

    async def supports_referrers_api(self, repository: Repository, subject: Digest) -> bool:
        """True when `GET /v2/<name>/referrers/<digest>` answers with an OCI index (spec: 404 means no API)."""
        reply = await self._referrers_reply(repository, subject)
        if reply.status in _REFERRERS_ABSENT:
            return False
        if reply.status != 200:
            raise _unexpected(reply, f"probing the referrers API of {repository.registry}")
        return document_media_type(reply.body, reply.media_type) == OCI_INDEX

    # --- helpers ----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        registry: str,
        path: str,
        scope: str | None,
        what: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int | None = None,
        follow_redirects: bool = False,
    ) -> Reply:
        url = self.settings.base_url(registry) + path
        return await self._transport.request(
            method, url, registry=registry, scope=scope, what=what, headers=headers, content=content,
            follow_redirects=follow_redirects, **({} if max_bytes is None else {"max_bytes": max_bytes}),
        )  # fmt: skip

    def _parse_digest(self, text: str, repository: Repository) -> Digest:
        try:
            return Digest.parse(text.strip())
        except InvalidDigest as exc:
            raise RegistryProtocolError(
                f"{repository.registry} sent an invalid Docker-Content-Digest"
            ) from exc


def _path(repository: Repository, kind: str, reference: str) -> str:
    return f"/v2/{repository.path}/{kind}/{urllib.parse.quote(reference, safe=':')}"


def _pull(repository: Repository) -> str:
    return f"repository:{repository.path}:pull"


def _push(repository: Repository) -> str:
    return f"repository:{repository.path}:pull,push"


def _with_query(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query, keep_blank_values=True), (name, value)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _unexpected(reply: Reply, doing: str) -> RegistryProtocolError:
    return RegistryProtocolError(f"unexpected answer {reply.explain()} when {doing}")


def _refused(reply: Reply, doing: str) -> RegistryWriteError:
    return RegistryWriteError(f"the registry refused {doing}: {reply.explain()}")
