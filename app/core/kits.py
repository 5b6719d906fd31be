"""Small kits several parts of sigwebhook need: an expiring cache, shared in-flight work, collecting
the outcome of a task nobody awaits any more, and one mapping read over another.

Each was once written where it was needed; one copy each now. Pure: the standard library only, time
from the `Clock` port. Meant for one event loop (nothing here locks).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # a protocol, for annotations only (the vocabulary modules do not import each other)
    from app.core.ports import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """At most `max_entries` values, each kept for the time it was stored with; when full, the least
    recently used goes first. An expired value is never returned."""

    def __init__(self, max_entries: int, clock: Clock) -> None:
        self._max, self._clock = max_entries, clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value stored for `key` while it is fresh, else None."""
        found = self.lookup(key)
        return None if found is None else found[0]

    def lookup(self, key: K) -> tuple[V, float] | None:
        """The fresh value for `key` and the seconds it has left, or None (a hit counts as a use)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        left = expires - self._clock.monotonic()
        if left <= 0:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value, left

    def put(self, key: K, value: V, ttl: float) -> None:
        """Keep `value` for `ttl` seconds (a `ttl` of 0 or less forgets `key` instead)."""
        if ttl <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def stored(self) -> tuple[V, ...]:
        """Every value still held, expired ones included until they are dropped (what was handed out
        and may be quoted back, for redaction); no use counts."""
        return tuple(value for _, value in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


class SharedWork(Generic[K, V]):
    """Concurrent callers asking for the same key share one run of the work.

    The run is a task of its own: a caller that gives up (its deadline) does not cancel what the
    others wait for, and a run every caller left still finishes (its result usually lands in a
    cache, for the next caller). Its outcome is collected when nobody waits any more."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """The result of the run for `key`: the one in flight, or a new run of `work`."""
        return await asyncio.shield(self.start(key, work))

    def start(self, key: K, work: Callable[[], Awaitable[V]]) -> asyncio.Future[V]:
        """The run for `key`, started now from `work` unless one is already in flight."""
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(work())
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        return running

    def __contains__(self, key: object) -> bool:
        return key in self._running

    def __len__(self) -> int:
        return len(self._running)

    def _finished(self, key: K, done: asyncio.Future[V]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        collect(done)


def collect(future: asyncio.Future[Any], on_error: Callable[[BaseException], None] | None = None) -> None:
    """A done callback for a task nobody may await any more (abandoned at a deadline, or shared by
    callers who all left): retrieves its outcome, so asyncio does not warn that an exception was never
    retrieved, and hands an exception to `on_error` when given."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None and on_error is not None:
        on_error(error)


class Overlay(Mapping[K, V]):
    """`top` read over `bottom`. Either may be a callable giving the mapping as it is now (a Secret
    that is watched): it is called at each read. The repr shows only the number of keys, as the
    values may be credentials."""

    def __init__(
        self,
        top: Mapping[K, V] | Callable[[], Mapping[K, V]],
        bottom: Mapping[K, V] | Callable[[], Mapping[K, V]],
    ) -> None:
        self._top, self._bottom = top, bottom

    def __getitem__(self, key: K) -> V:
        top = _now(self._top)
        if key in top:
            return top[key]
        return _now(self._bottom)[key]

    def __iter__(self) -> Iterator[K]:
        return iter({**_now(self._bottom), **_now(self._top)})

    def __len__(self) -> int:
        return len({**_now(self._bottom), **_now(self._top)})

    def __repr__(self) -> str:
        return f"<{len(self)} entries>"


def _now(source: Mapping[K, V] | Callable[[], Mapping[K, V]]) -> Mapping[K, V]:
    return source if isinstance(source, Mapping) else source()
