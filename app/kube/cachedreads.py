"""`CachedReads`: a short-lived, size-bounded, single-flight cache in front of a blocking API call.

Made for reading Kubernetes objects on the admission path without one API call per review: each key
is loaded once and kept `ttl` seconds; a failure (`ClusterError`) is kept `error_ttl` seconds, so an
API server outage costs one call per object every few seconds, not one per review; at most
`max_entries` are kept (the least recently used go first); concurrent callers asking for the same key
share one call. The blocking loader runs in a worker thread (`asyncio.to_thread`), so the event loop
keeps answering. Use it from one event loop. No knowledge of what is loaded.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.clock import SYSTEM_CLOCK
from app.core.errors import ClusterError
from app.core.ports import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class _Failure:
    error: ClusterError


class CachedReads(Generic[K, V]):
    """`await lookups.get(key)`: the cached value of `load(key)`, or its cached `ClusterError`."""

    def __init__(
        self,
        load: Callable[[K], V],
        ttl: float,
        error_ttl: float,
        max_entries: int,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._load, self._ttl, self._error_ttl = load, ttl, error_ttl
        self._max, self._clock = max_entries, clock
        self._entries: OrderedDict[K, tuple[float, V | _Failure]] = OrderedDict()
        self._pending: dict[K, asyncio.Future[V]] = {}
        self.hits = 0
        self.loads = 0

    async def get(self, key: K) -> V:
        """The value for `key`: from the cache while fresh, else from one shared call to the loader."""
        entry = self._entries.get(key)
        if entry is not None:
            expires, value = entry
            if self._clock.monotonic() < expires:
                self._entries.move_to_end(key)
                self.hits += 1
                if isinstance(value, _Failure):
                    raise _copy(value.error)
                return value
            del self._entries[key]
        pending = self._pending.get(key)
        if pending is None:
            self.loads += 1
            pending = asyncio.ensure_future(self._fill(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        # shield: a review that gives up (its deadline) must not cancel the call others wait for.
        return await asyncio.shield(pending)

    def __len__(self) -> int:
        return len(self._entries)

    async def _fill(self, key: K) -> V:
        try:
            value = await asyncio.to_thread(self._load, key)
        except ClusterError as exc:
            self._store(key, _Failure(exc), self._error_ttl)
            raise
        self._store(key, value, self._ttl)
        return value

    def _store(self, key: K, value: V | _Failure, ttl: float) -> None:
        if ttl <= 0:
            return
        self._entries[key] = (self._clock.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _copy(error: ClusterError) -> ClusterError:
    """A fresh exception of the same type and messages: one raised object is never re-raised by many
    callers (its traceback would grow with each)."""
    return type(error)(error.reason, error.detail)
