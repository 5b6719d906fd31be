"""Bounds on registry requests in flight: across the process, and per registry host.

Without them a burst of cold reviews sends thousands of requests at once: each waits in the HTTP
library's connection-pool queue, whose bookkeeping then takes most of the event loop, every review
misses its deadline, and a request cancelled while it waits there can lose a pool slot for good
(https://github.com/encode/httpcore/issues/1093). Through the gate at most `max_in_flight` exchanges
run at once, at most `max_per_host` of them with one host, and each host's pool has that many
connections (`app.registry.pools`): the pools below never queue.

Waiters are served first come, first served, except that a waiter for a host at its limit lets the
others pass. A wait ends just before the answer it serves is due (`app.core.deadlines`) with
`RequestLimitReached`, which names the limit that was full: a review denied for want of capacity
says so, rather than that the registry did not answer. Work whose answer is already due gets a slot
only when one is free at once. A slot held longer than `lease_seconds` stops counting (the transport
gives every slot back when its exchange's time is up, whatever the library does; this only guards
against a bug in that promise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.core import deadlines
from app.core.errors import RequestLimitReached
from app.core.ports import Clock

log = logging.getLogger(__name__)

# A wait ends this long before the answer is due, so that the reason reaches the decision in time.
DUE_MARGIN_SECONDS = 0.3


@dataclass(eq=False)
class _Lease:
    host: str
    taken: float


@dataclass(eq=False)
class _Waiter:
    host: str
    granted: asyncio.Future[_Lease]


class ExchangeGate:
    """`async with gate.slot(host):` around one HTTP exchange. Shared by every registry client of the
    process (one per set of pull credentials), so the bounds hold for all of them together."""

    def __init__(self, max_in_flight: int, max_per_host: int, clock: Clock, lease_seconds: float) -> None:
        self.max_in_flight, self.max_per_host = max_in_flight, min(max_per_host, max_in_flight)
        self._clock, self._lease_seconds = clock, lease_seconds
        self._held: dict[_Lease, None] = {}  # in the order taken: the oldest first
        self._per_host: Counter[str] = Counter()
        self._waiting: dict[_Waiter, None] = {}  # first come, first served
        self.expired = 0  # slots that stopped counting after `lease_seconds`

    @property
    def in_flight(self) -> int:
        return len(self._held)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the process's and one of `host`'s slots for the block."""
        lease = await self._take(host)
        try:
            yield
        finally:
            self._give_back(lease)

    async def _take(self, host: str) -> _Lease:
        self._expire()
        if self._free(host):  # every waiter is held up by a full limit that holds us up too
            return self._grant(host)
        due, now = deadlines.due(), self._clock.monotonic()
        if due is not None and due - DUE_MARGIN_SECONDS <= now:
            raise self._full(host)
        waiter = _Waiter(host, asyncio.get_running_loop().create_future())
        self._waiting[waiter] = None
        try:
            async with asyncio.timeout(None if due is None else due - DUE_MARGIN_SECONDS - now):
                return await waiter.granted
        except TimeoutError:
            if _granted(waiter):  # granted just as the time ran out: use it
                return waiter.granted.result()
            raise self._full(host) from None
        except asyncio.CancelledError:
            if _granted(waiter):
                self._give_back(waiter.granted.result())
            raise
        finally:
            self._waiting.pop(waiter, None)

    def _free(self, host: str) -> bool:
        return len(self._held) < self.max_in_flight and self._per_host[host] < self.max_per_host

    def _grant(self, host: str) -> _Lease:
        lease = _Lease(host, self._clock.monotonic())
        self._held[lease] = None
        self._per_host[host] += 1
        return lease

    def _give_back(self, lease: _Lease) -> None:
        if lease in self._held:  # not when it expired
            del self._held[lease]
            self._release(lease.host)
            self._wake()

    def _release(self, host: str) -> None:
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]

    def _wake(self) -> None:
        for waiter in list(self._waiting):
            if len(self._held) >= self.max_in_flight:
                return
            if waiter.granted.done():  # its task gave up; it leaves the queue itself
                continue
            if self._per_host[waiter.host] < self.max_per_host:
                del self._waiting[waiter]
                waiter.granted.set_result(self._grant(waiter.host))

    def _expire(self) -> None:
        limit = self._clock.monotonic() - self._lease_seconds
        overdue = [lease for lease in self._held if lease.taken < limit]  # few: the oldest first
        for lease in overdue:
            del self._held[lease]
            self._release(lease.host)
            self.expired += 1
            log.warning(
                "a request slot for %s was held for more than %.0f s; it no longer counts",
                lease.host,
                self._lease_seconds,
            )
        if overdue:
            self._wake()

    def _full(self, host: str) -> RequestLimitReached:
        if len(self._held) >= self.max_in_flight:
            limit = f"its limit of {self.max_in_flight} registry requests at once"
        else:
            limit = f"its limit of {self.max_per_host} requests at once to {host}"
        return RequestLimitReached(
            f"not checked in time: sigwebhook was already sending {limit} "
            "(too many images to verify at the same time); try again shortly",
            f"{host}: no request slot before the answer was due "
            f"({len(self._held)} in flight, {len(self._waiting)} waiting)",
        )


def _granted(waiter: _Waiter) -> bool:
    return waiter.granted.done() and not waiter.granted.cancelled()
