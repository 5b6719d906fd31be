"""The key store port: where the admission path reads the keys that live in Kubernetes Secrets.

Keys given as files or inline PEM are parsed once at start-up into the policies themselves. Keys
named `k8s://namespace/name` live in Secrets; an adapter (`app.kube`) lists and watches them and
publishes an immutable `KeySnapshot`. The admission path only calls `snapshot()`: it never waits for
and never calls the API server (policy-controller's design). No I/O here.
"""

from __future__ import annotations

from typing import Protocol

from app.core.keysources import KeySnapshot


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


class StaticKeyStore:
    """A key store for configurations whose keys are all files or inline PEM: no Secret is
    watched, so the snapshot is fixed (empty unless given) and loaded from the start."""

    def __init__(self, snapshot: KeySnapshot | None = None) -> None:
        self._snapshot = snapshot if snapshot is not None else KeySnapshot()

    def snapshot(self) -> KeySnapshot:
        return self._snapshot

    def loaded(self) -> bool:
        return True


class Lifecycle(Protocol):
    """A background part started before the first review and stopped at shutdown (the Secret
    watchers of `app.kube`: `start()` loads every Secret once, raising `ConfigError` when one gives
    no usable key, then follows them on threads)."""

    def start(self) -> object: ...

    def stop(self) -> None: ...
