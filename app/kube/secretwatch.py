"""Follow a fixed set of named Secrets: list, then watch from the list's resourceVersion, forever.

One `SecretFollower` per Secret, each on its own daemon thread, reports every state it sees to a
callback as `(ref, Secret | None)` (None: the Secret does not exist or was deleted). It follows the
Kubernetes API concepts for watches: resume from the last resourceVersion seen (BOOKMARK events
move it too); on 410 Gone list again at once; on any other failure wait with capped exponential
backoff, then list again. It must never call the callback with key material in a log line, and it
never dies on an error: a thread that stopped would freeze the keys silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from app.clock import SYSTEM_CLOCK
from app.core.errors import ClusterError, WatchExpired
from app.core.ports import Clock
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, Secret, SecretStream

log = logging.getLogger(__name__)

OnChange = Callable[[SecretRef, Secret | None], None]
WATCH_TIMEOUT_SECONDS = 300  # the server ends each watch after this; we resume from the last version
MIN_QUIET_WATCH_SECONDS = 1.0  # a watch that ends sooner with no event is retried with backoff


class Backoff:
    """Capped exponential delays: `initial`, doubling, never above `maximum`; `reset()` after success."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class SecretFollower:
    """Keeps one Secret's state flowing to `on_change`. `sync()` and `follow()` are the two steps of
    `run()`, public so tests can drive them one at a time."""

    def __init__(
        self,
        api: KubeApi,
        ref: SecretRef,
        on_change: OnChange,
        stop: threading.Event,
        backoff: Backoff | None = None,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.api, self.ref, self.on_change, self.stop = api, ref, on_change, stop
        self.backoff = backoff or Backoff()
        self.watch_timeout = watch_timeout
        self.clock = clock
        self.events_seen = 0  # watch events received, bookmarks included
        self._stream: SecretStream | None = None

    def sync(self) -> str:
        """List the Secret, report its state, return the resourceVersion to watch from."""
        secret, resource_version = self.api.list_secret(self.ref)
        self.on_change(self.ref, secret)
        return resource_version

    def follow(self, resource_version: str) -> str:
        """Watch from `resource_version` until the server ends the stream or `stop` is set; report
        each change and return the last resourceVersion seen. Raises `ClusterError`."""
        stream = self.api.watch_secret(self.ref, resource_version, self.watch_timeout)
        self._stream = stream
        try:
            for event in stream:
                if self.stop.is_set():
                    break
                self.events_seen += 1
                if event.resource_version:
                    resource_version = event.resource_version
                if event.kind == "BOOKMARK":
                    continue
                self.on_change(self.ref, None if event.kind == "DELETED" else event.secret)
                self.backoff.reset()
        finally:
            self._stream = None
        return resource_version

    def run(self, wait: Callable[[float], bool] | None = None) -> None:
        """List + watch until `stop` is set. `wait(seconds)` returns True when stopping (default:
        `stop.wait`, so stopping interrupts a backoff at once)."""
        wait = wait or self.stop.wait
        resource_version: str | None = None
        while not self.stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self.sync()
                started, events = self.clock.monotonic(), self.events_seen
                resource_version = self.follow(resource_version)
                if self.clock.monotonic() - started >= MIN_QUIET_WATCH_SECONDS:
                    self.backoff.reset()  # a watch that held is health, events or not
                elif self.events_seen == events:
                    # Ended at once with nothing to say (a proxy closing streams?): never a busy loop,
                    # and list again, so a change the broken watches cannot bring is still seen.
                    delay = self.backoff.next()
                    log.warning("watch of Secret %s ended at once; listing again in %.1fs", self.ref, delay)
                    resource_version = None
                    if wait(delay):
                        return
            except WatchExpired:
                log.info("watch of Secret %s expired (410 Gone); listing again", self.ref)
                resource_version = None
            except ClusterError as exc:
                delay = self.backoff.next()
                log.warning("watch of Secret %s failed, retrying in %.1fs: %s", self.ref, delay, exc.detail)
                resource_version = None
                if wait(delay):
                    return
            except Exception:  # a bug in a callback must not end the watch: log it, back off, relist
                delay = self.backoff.next()
                log.exception("internal error following Secret %s, retrying in %.1fs", self.ref, delay)
                resource_version = None
                if wait(delay):
                    return

    def interrupt(self) -> None:
        """End the current watch request now (from another thread)."""
        stream = self._stream
        if stream is not None:
            stream.close()


class SecretWatch:
    """Follows several Secrets on daemon threads; `start()` once, `stop()` at shut-down."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        on_change: OnChange,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._stop = threading.Event()
        self._followers = [
            SecretFollower(api, ref, on_change, self._stop, watch_timeout=watch_timeout, clock=clock)
            for ref in sorted(set(refs))
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for follower in self._followers:
            thread = threading.Thread(target=follower.run, name=f"secret-watch {follower.ref}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for follower in self._followers:
            follower.interrupt()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
