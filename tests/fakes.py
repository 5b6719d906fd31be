"""In-memory fakes of the core's ports, for the pure core's table tests.

`InMemoryRegistry` is a faithful, content-addressed registry: every digest is computed from the bytes
stored, manifests are found by tag or digest, blobs are checked against their descriptor (digest, size,
size limit) exactly as the `Registry` port promises, and referrers come from either the referrers API
(scanning stored manifests' `subject`) or the referrers tag schema (`sha256-<hex>` index), as the
real adapter would. It can inject faults per operation and records every call, so tests can count
round trips. `ManualClock` is the `Clock` port's one fake, for every test that needs time to pass;
`DictCache` is a plain verdict cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.digests import Digest
from app.core.errors import ImageNotFound, RegistryError, RegistryProtocolError
from app.core.formats.layouts import parse_index
from app.core.ports import OCI_MANIFEST, Descriptor, Manifest
from app.core.references import ImageRef, Repository


@dataclass
class _Fault:
    operation: str
    error: RegistryError
    reference: str | None  # only calls whose reference contains this text; None = every call
    remaining: int | None  # how many more calls fail; None = forever


@dataclass
class InMemoryRegistry:
    """A registry in a dict. `referrers_api=False` behaves like docker-registry 2.8 (no referrers API:
    `list_referrers` reads the fallback index tag)."""

    referrers_api: bool = True
    calls: list[tuple[str, str]] = field(default_factory=list)
    _blobs: dict[tuple[Repository, Digest], bytes] = field(default_factory=dict)
    _manifests: dict[tuple[Repository, Digest], tuple[str, bytes]] = field(default_factory=dict)
    _tags: dict[tuple[Repository, str], Digest] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _depths: list[int] = field(default_factory=list)  # of the requests that finished

    # --- the Registry port --------------------------------------------------------------------------

    async def resolve(self, ref: ImageRef) -> Descriptor:
        if ref.digest is not None:  # content addressing: no fetch (and no round trip), as the port says
            self._record("resolve", str(ref))
            stored = self._manifests.get((ref.repository, ref.digest))
            media_type, size = (stored[0], len(stored[1])) if stored else (OCI_MANIFEST, 0)
            return Descriptor(media_type, ref.digest, size)
        async with self._round_trip("resolve", str(ref)):
            assert ref.tag is not None
            digest = self._tags.get((ref.repository, ref.tag))
            if digest is None:
                raise ImageNotFound(f"{ref} not found")
            media_type, data = self._manifests[(ref.repository, digest)]
            return Descriptor(media_type, digest, len(data))

    def recent(self, ref: ImageRef) -> Digest | None:
        return ref.digest  # a tag is always asked again

    async def fetch_manifest(self, repository: Repository, reference: str | Digest) -> Manifest | None:
        async with self._round_trip("fetch_manifest", str(reference)):
            return self._manifest(repository, reference)

    async def fetch_blob(self, repository: Repository, descriptor: Descriptor, max_bytes: int) -> bytes:
        async with self._round_trip("fetch_blob", str(descriptor.digest)):
            data = self._blobs.get((repository, descriptor.digest))
            short = descriptor.digest.short()
            if data is None:
                raise RegistryProtocolError(f"blob {short} is missing from the registry")
            if len(data) > max_bytes:
                raise RegistryProtocolError(f"blob {short} is larger than {max_bytes} bytes")
            if len(data) != descriptor.size or not descriptor.digest.matches(data):
                raise RegistryProtocolError(f"blob {short} does not match its digest")
            return data

    async def list_referrers(self, repository: Repository, subject: Digest) -> list[Descriptor]:
        async with self._round_trip("list_referrers", str(subject)):
            if not self.referrers_api:  # referrers tag schema: the index at tag sha256-<hex>
                index = self._manifest(repository, subject.tag_prefix)
                return list(parse_index(index.data)) if index is not None else []
            found = []
            for (repo, digest), (media_type, data) in sorted(self._manifests.items()):
                document = _json_object(data)
                if repo == repository and (document.get("subject") or {}).get("digest") == str(subject):
                    artifact_type = document.get("artifactType") or (document.get("config") or {}).get(
                        "mediaType"
                    )
                    annotations = document.get("annotations") or {}
                    found.append(Descriptor(media_type, digest, len(data), artifact_type, annotations))
            return found

    @property
    def rounds(self) -> int:
        """Sequential round trips so far: the longest chain of calls each started after the last ended."""
        return max(self._depths, default=0)

    # --- the RegistryWriter port (so `sign` can run against it too) ----------------------------------

    async def push_blob(self, repository: Repository, data: bytes, media_type: str) -> Descriptor:
        self._record("push_blob", media_type)
        return self.put_blob(repository, data, media_type)

    async def push_manifest(
        self, repository: Repository, data: bytes, media_type: str, tag: str | None
    ) -> Digest:
        self._record("push_manifest", tag or "")
        return self.put_manifest(repository, data, media_type, tag)

    async def supports_referrers_api(self, repository: Repository, subject: Digest) -> bool:
        self._record("supports_referrers_api", str(subject))
        return self.referrers_api

    # --- direct set-up for tests (no call recorded, no faults) ---------------------------------------

    def put_blob(
        self, repository: Repository, data: bytes, media_type: str = "application/octet-stream"
    ) -> Descriptor:
        digest = Digest.of(data)
        self._blobs[(repository, digest)] = data
        return Descriptor(media_type, digest, len(data))

    def put_manifest(
        self, repository: Repository, data: bytes, media_type: str, tag: str | None = None
    ) -> Digest:
        digest = Digest.of(data)
        self._manifests[(repository, digest)] = (media_type, data)
        if tag is not None:
            self._tags[(repository, tag)] = digest
        return digest

    def get_blob(self, repository: Repository, digest: Digest) -> bytes:
        return self._blobs[(repository, digest)]

    def get_manifest(self, repository: Repository, tag: str) -> bytes | None:
        digest = self._tags.get((repository, tag))
        return self._manifests[(repository, digest)][1] if digest is not None else None

    def tag(self, repository: Repository, tag: str, digest: Digest) -> None:
        """Point `tag` at an existing manifest (a tag that moves)."""
        assert (repository, digest) in self._manifests
        self._tags[(repository, tag)] = digest

    def corrupt_blob(self, repository: Repository, digest: Digest, data: bytes) -> None:
        """Store wrong bytes under `digest` (a broken or malicious registry)."""
        self._blobs[(repository, digest)] = data

    def fail(
        self, operation: str, error: RegistryError, reference: str | None = None, times: int | None = None
    ) -> None:
        """Make `operation` raise `error` (for calls whose reference contains `reference`)."""
        self._faults.append(_Fault(operation, error, reference, times))

    def heal(self) -> None:
        self._faults.clear()

    def count(self, *operations: str) -> int:
        return sum(1 for op, _ in self.calls if op in operations)

    def _manifest(self, repository: Repository, reference: str | Digest) -> Manifest | None:
        digest = reference if isinstance(reference, Digest) else self._tags.get((repository, reference))
        stored = self._manifests.get((repository, digest)) if digest is not None else None
        return Manifest(stored[0], digest, stored[1]) if stored is not None and digest is not None else None

    @contextlib.asynccontextmanager
    async def _round_trip(self, operation: str, reference: str) -> AsyncIterator[None]:
        """One request: its depth is one more than the deepest request that had finished when it
        started. Yielding to the loop first lets concurrent requests start in the same round."""
        depth = 1 + max(self._depths, default=0)
        self._record(operation, reference)
        await asyncio.sleep(0)
        try:
            yield
        finally:
            self._depths.append(depth)

    def _record(self, operation: str, reference: str) -> None:
        self.calls.append((operation, reference))
        for fault in self._faults:
            if fault.operation != operation or (fault.reference and fault.reference not in reference):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
            raise fault.error


def _json_object(data: bytes) -> dict[str, Any]:
    """A stored manifest as JSON; anything unreadable has no subject (the registry would not index it)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


class ManualClock:
    """A `Clock` that moves only when `advance` is called (wall and monotonic time together)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


@dataclass
class DictCache:
    """A `VerdictCache` in a dict, counting hits."""

    entries: dict[Hashable, object] = field(default_factory=dict)
    hits: int = 0

    def get(self, key: Hashable) -> object | None:
        value = self.entries.get(key)
        self.hits += value is not None
        return value

    def put(self, key: Hashable, value: object) -> None:
        self.entries[key] = value

    def refresh_due(self, key: Hashable) -> bool:
        return False
