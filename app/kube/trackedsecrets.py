"""`TrackedSecrets`: the last good parsed value of each of a fixed set of Secrets, kept current by
the watch, with the rules every Secret-backed setting shares.

- Start-up is strict: a Secret that cannot be read, does not exist or does not parse is a
  `ConfigError` naming it, and start-up stops.
- Later, a Secret that stops parsing keeps its last good value and an error is logged.
- A deleted Secret loses its value (fail closed) and its reason goes to `problems`.
Each change calls `publish(values, problems)` with fresh immutable mappings. It never logs Secret
data: only names, and the parser's `detail`, which must not hold secrets either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from app.clock import SYSTEM_CLOCK
from app.core.errors import ClusterError, ConfigError, SigwebhookError
from app.core.ports import Clock
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, Secret
from app.kube.secretwatch import WATCH_TIMEOUT_SECONDS, SecretWatch

log = logging.getLogger(__name__)
T = TypeVar("T")
Publish = Callable[[Mapping[SecretRef, T], Mapping[SecretRef, str]], None]


class TrackedSecrets(Generic[T]):
    """Parses each Secret of `refs` with `parse` (which raises a `SigwebhookError` when it cannot)."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        parse: Callable[[Secret], T],
        publish: Publish[T],
        what: str,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._api = api
        self.refs = tuple(dict.fromkeys(refs))  # keeps the configured order, once each
        self._parse, self._publish, self._what = parse, publish, what
        self._lock = threading.Lock()
        self._values: dict[SecretRef, T] = {}
        self._problems: dict[SecretRef, str] = {}
        self._versions: dict[SecretRef, str] = {}
        self._watch = SecretWatch(api, self.refs, self.apply, watch_timeout, clock)
        self.loaded = False

    def load(self) -> None:
        """Read and parse every Secret once; raise `ConfigError` naming the first that fails."""
        for ref in self.refs:
            try:
                secret, _ = self._api.list_secret(ref)
            except ClusterError as exc:
                raise ConfigError(f"{self._what} {ref}: {exc.reason}", exc.detail) from exc
            if secret is None:
                raise ConfigError(f"{self._what} {ref} does not exist")
            try:
                value = self._parse(secret)
            except SigwebhookError as exc:
                raise ConfigError(f"{self._what} {ref}: {exc.reason}", exc.detail) from exc
            with self._lock:
                self._values[ref], self._versions[ref] = value, secret.resource_version
                self._problems.pop(ref, None)
        with self._lock:
            self._emit()
        self.loaded = True

    def start(self) -> None:
        """`load()`, then follow every Secret on background threads."""
        self.load()
        self._watch.start()

    def stop(self) -> None:
        self._watch.stop()

    def apply(self, ref: SecretRef, secret: Secret | None) -> None:
        """Take in one observed state of `ref` (None: it does not exist). Called by the watch."""
        with self._lock:
            if secret is None:
                self._drop(ref)
            elif self._versions.get(ref) != secret.resource_version:
                self._update(ref, secret)

    def _drop(self, ref: SecretRef) -> None:
        if ref not in self._values and ref in self._problems:
            return
        log.error("%s %s was deleted: what it held is no longer used", self._what, ref)
        self._values.pop(ref, None)
        self._versions.pop(ref, None)
        self._problems[ref] = f"{self._what} {ref} does not exist (deleted)"
        self._emit()

    def _update(self, ref: SecretRef, secret: Secret) -> None:
        self._versions[ref] = secret.resource_version
        try:
            value = self._parse(secret)
        except SigwebhookError as exc:
            if ref in self._values:
                log.error(
                    "%s %s changed but is unusable; keeping its last good value: %s",
                    self._what,
                    ref,
                    exc.detail,
                )
                return
            log.error("%s %s is unusable: %s", self._what, ref, exc.detail)
            self._problems[ref] = exc.reason
            self._emit()
            return
        self._values[ref] = value
        self._problems.pop(ref, None)
        log.info("%s %s updated (resourceVersion %s)", self._what, ref, secret.resource_version)
        self._emit()

    def _emit(self) -> None:
        ordered = {ref: self._values[ref] for ref in self.refs if ref in self._values}
        self._publish(MappingProxyType(ordered), MappingProxyType(dict(self._problems)))


S = TypeVar("S")


class TrackedStore(Generic[T, S]):
    """What both Secret-backed stores share (`SecretKeyStore`, `PullSecretStore`): the tracked
    Secrets, parsed to `T` each, and a snapshot `S` that the store's `_publish` replaces on every
    change, with the lifecycle around it. `snapshot` builds the first one (empty, `taken_at` now)."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        parse: Callable[[Secret], T],
        what: str,
        snapshot: Callable[..., S],
        clock: Clock,
        watch_timeout: int,
    ) -> None:
        self._clock = clock
        self._snapshot = snapshot(taken_at=clock.monotonic())
        self._tracked = TrackedSecrets(api, refs, parse, self._publish, what, watch_timeout, clock)

    def _publish(self, values: Mapping[SecretRef, T], problems: Mapping[SecretRef, str]) -> None:
        """Replace `_snapshot` with one built from every Secret's current value and problem."""
        raise NotImplementedError

    def loaded(self) -> bool:
        """True once every Secret was read and parsed at start-up (what `/readyz` reports)."""
        return self._tracked.loaded

    def snapshot(self) -> S:
        """The current value: immutable, replaced (never mutated) on every change."""
        return self._snapshot

    def load(self) -> S:
        """Read every Secret once; `ConfigError` naming the Secret when one is unusable."""
        self._tracked.load()
        return self._snapshot

    def start(self) -> S:
        """`load()`, then follow every Secret on background threads."""
        self._tracked.start()
        return self._snapshot

    def stop(self) -> None:
        self._tracked.stop()

    def apply(self, ref: SecretRef, secret: Secret | None) -> None:
        """Take in one observed state of `ref` (None: deleted). Called by the watch threads."""
        self._tracked.apply(ref, secret)
