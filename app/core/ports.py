"""The ports through which the core reaches the world: registry, clock, verdict cache, key store,
policy source.

Adapters implement these protocols (`app.registry.OciRegistry`, `app.clock.SystemClock`, an in-memory cache);
tests use in-memory fakes. Every registry call the verifier makes goes through `Registry`, so a
later round-trip budget, request sharing or fault injection has exactly one place to hook in.
Protocols, shared value types and size limits only: no implementation and no I/O here, and the core
never imports the adapters that implement them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from app.core.digests import Digest
from app.core.references import ImageRef, Repository

if TYPE_CHECKING:  # types only: the snapshot and the policy are values built above this layer
    from app.core.admission.policy import AdmissionPolicy
    from app.core.trust.secretkeys import KeySnapshot

# OCI image spec media types the core needs to name.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

# Size limits for what we read (a hostile registry must not make us buffer gigabytes).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own manifest limit is 4 MiB
MAX_PAYLOAD_BYTES = 1024 * 1024  # a simple-signing payload is a few hundred bytes
MAX_BUNDLE_BYTES = 4 * 1024 * 1024  # a sigstore bundle with certificates and proofs: tens of KiB


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (media type, digest, size, optional artifact type and annotations)."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its exact bytes, checked to hash to `digest`."""

    media_type: str
    digest: Digest
    data: bytes


class Registry(Protocol):
    """Read access to OCI registries (OCI distribution spec v1.1). All methods may raise
    `RegistryError` subclasses; a 404 on an optional object is `None`, not an error."""

    async def resolve(self, ref: ImageRef) -> Descriptor:
        """The descriptor of the manifest `ref` names. For a digest reference, the digest is taken as
        given (content addressing makes the fetch unnecessary). Raises `ImageNotFound`."""
        ...

    def recent(self, ref: ImageRef) -> Digest | None:
        """The digest `resolve` would answer without a request: a digest reference's own, or a tag's
        from a recent resolution when the current work may reuse one (`app.core.tagreuse`); None
        when it would have to ask."""
        ...

    async def fetch_manifest(self, repository: Repository, reference: str | Digest) -> Manifest | None:
        """GET a manifest by tag or digest; `None` when the registry says 404. Bytes are checked
        against the digest (the requested one, or `Docker-Content-Digest`)."""
        ...

    async def fetch_blob(self, repository: Repository, descriptor: Descriptor, max_bytes: int) -> bytes:
        """GET a blob, following redirects; the bytes are checked against the digest and size."""
        ...

    async def list_referrers(self, repository: Repository, subject: Digest) -> list[Descriptor]:
        """Manifests whose `subject` is `subject`: the referrers API, or on registries without it the
        referrers tag schema (`sha256-<hex>` index). Empty when there are none."""
        ...


class RegistryWriter(Protocol):
    """Write access, used only by `sigwebhook sign`."""

    async def push_blob(self, repository: Repository, data: bytes, media_type: str) -> Descriptor: ...

    async def push_manifest(
        self, repository: Repository, data: bytes, media_type: str, tag: str | None
    ) -> Digest:
        """PUT a manifest by `tag`, or by its own digest when `tag` is None."""
        ...

    async def supports_referrers_api(self, repository: Repository, subject: Digest) -> bool: ...


class Clock(Protocol):
    """Where time comes from (a manual clock in tests)."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock, for deadlines and durations."""
        ...


class VerdictCache(Protocol):
    """Cache of verification outcomes. Keys are built by the core from the image digest plus the
    fingerprints of the keys tried, so a key change can never reuse an old verdict. Only complete
    outcomes are stored: a transient failure is never cached. How long each is kept is the cache's
    choice (a deny usually for much less time than an admit)."""

    def get(self, key: Hashable) -> object | None: ...

    def put(self, key: Hashable, value: object) -> None: ...

    def refresh_due(self, key: Hashable) -> bool:
        """True when the value kept for `key` is about to expire and is worth verifying again now, in
        the background, while it is still served."""
        ...


class KeyStore(Protocol):
    """The current keys of the watched Secrets.

    Implementations (the Secret watcher in `app.kube`) must:
    - return from `snapshot()` at once, without I/O, the last published snapshot;
    - keep the last good keys of a Secret when a later version cannot be parsed (and log why);
    - report `loaded()` True only once every watched Secret was listed at least once, so
      `/readyz` does not report ready before the keys are known.
    """

    def snapshot(self) -> KeySnapshot:
        """The last published snapshot (never blocks)."""
        ...

    def loaded(self) -> bool:
        """True once the keys of every watched Secret were read at least once."""
        ...


class PolicySource(Protocol):
    """The admission policy in force: validated, immutable, replaced whole when it changes.

    `current()` returns at once, without I/O, the last published policy; a review reads it once, so
    one review never mixes two policies. The config file is the first source (fixed at start-up,
    `app.config`); a watcher of policy objects in the cluster would publish each new validated
    policy the way the key store publishes snapshots."""

    def current(self) -> AdmissionPolicy:
        """The policy in force now (never blocks)."""
        ...


class Lifecycle(Protocol):
    """A background part started before the first review and stopped at shutdown (the Secret
    watchers of `app.kube`: `start()` loads every Secret once, raising `ConfigError` when one gives
    no usable key, then follows them on threads)."""

    def start(self) -> object: ...

    def stop(self) -> None: ...
