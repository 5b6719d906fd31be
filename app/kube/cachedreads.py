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
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.clock import SYSTEM_CLOCK
from app.core.errors import ClusterError
from app.core.kits import ExpiringCache, SharedWork
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
        self._entries: ExpiringCache[K, V | _Failure] = ExpiringCache(max_entries, clock)
        self._loading: SharedWork[K, V] = SharedWork()
        self.hits = 0
        self.loads = 0

    async def get(self, key: K) -> V:
        """The value for `key`: from the cache while fresh, else from one shared call to the loader
        (a review that gives up at its deadline does not cancel the call others wait for)."""
        found = self._entries.lookup(key)  # (a stored None, "no such object", is a hit too)
        if found is not None:
            value = found[0]
            self.hits += 1
            if isinstance(value, _Failure):
                raise _copy(value.error)
            return value
        if key not in self._loading:
            self.loads += 1
        return await self._loading.run(key, lambda: self._fill(key))

    def __len__(self) -> int:
        return len(self._entries)

    async def _fill(self, key: K) -> V:
        try:
            value = await asyncio.to_thread(self._load, key)
        except ClusterError as exc:
            self._entries.put(key, _Failure(exc), self._error_ttl)
            raise
        self._entries.put(key, value, self._ttl)
        return value


def _copy(error: ClusterError) -> ClusterError:
    """A fresh exception of the same type and messages: one raised object is never re-raised by many
    callers (its traceback would grow with each)."""
    return type(error)(error.reason, error.detail)
