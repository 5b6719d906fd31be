"""The gate: registry requests in flight are bounded per process and per host, waiters are served in
turn, a wait ends with a reason naming the limit before the answer is due, and a slot held too long
stops counting."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.clock import SYSTEM_CLOCK
from app.core import deadlines
from app.core.errors import RequestLimitReached
from app.registry.gate import DUE_MARGIN_SECONDS, ExchangeGate
from tests.fakes import ManualClock


async def hold(gate: ExchangeGate, host: str, release: asyncio.Event, log: list[str]) -> None:
    async with gate.slot(host):
        log.append(host)
        await release.wait()


async def test_no_more_than_the_process_limit_run_at_once_and_waiters_go_in_turn() -> None:
    gate, release, log = ExchangeGate(2, 2, SYSTEM_CLOCK, 60), asyncio.Event(), []
    tasks = [asyncio.ensure_future(hold(gate, host, release, log)) for host in ("a", "b", "c", "d")]
    await asyncio.sleep(0.01)
    assert log == ["a", "b"] and gate.in_flight == 2 and gate.waiting == 2
    release.set()
    await asyncio.gather(*tasks)
    assert log == ["a", "b", "c", "d"] and gate.in_flight == 0


async def test_a_host_at_its_limit_lets_waiters_for_other_hosts_pass() -> None:
    gate, release, log = ExchangeGate(10, 1, SYSTEM_CLOCK, 60), asyncio.Event(), []
    tasks = [asyncio.ensure_future(hold(gate, host, release, log)) for host in ("slow", "slow", "other")]
    await asyncio.sleep(0.01)
    assert log == ["slow", "other"] and gate.waiting == 1
    release.set()
    await asyncio.gather(*tasks)


async def test_a_wait_ends_before_the_answer_is_due_naming_the_limit_that_was_full() -> None:
    gate, release = ExchangeGate(1, 1, SYSTEM_CLOCK, 60), asyncio.Event()
    holder = asyncio.ensure_future(hold(gate, "registry.example", release, []))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with deadlines.due_at(started + 0.5), pytest.raises(RequestLimitReached) as raised:
        async with gate.slot("registry.example"):
            pass
    waited = time.monotonic() - started
    assert 0.5 - DUE_MARGIN_SECONDS - 0.05 < waited < 0.5
    assert "its limit of 1 registry requests at once" in raised.value.reason
    assert "try again shortly" in raised.value.reason and gate.waiting == 0
    release.set()
    await holder


async def test_work_already_due_gets_a_free_slot_but_never_waits() -> None:
    gate, release = ExchangeGate(2, 1, SYSTEM_CLOCK, 60), asyncio.Event()
    with deadlines.due_at(time.monotonic() - 1):
        async with gate.slot("free.example"):
            pass
        holder = asyncio.ensure_future(hold(gate, "busy.example", release, []))
        await asyncio.sleep(0.01)
        with pytest.raises(RequestLimitReached, match=r"its limit of 1 requests at once to busy\.example"):
            async with gate.slot("busy.example"):
                pass
    release.set()
    await holder


async def test_a_waiter_cancelled_as_it_is_granted_gives_its_slot_back() -> None:
    gate, release = ExchangeGate(1, 1, SYSTEM_CLOCK, 60), asyncio.Event()
    holder = asyncio.ensure_future(hold(gate, "h", release, []))
    await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(hold(gate, "h", asyncio.Event(), []))
    await asyncio.sleep(0.01)
    release.set()
    await holder  # the slot is handed to the waiter, which is cancelled before it runs
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert gate.in_flight == 0
    async with gate.slot("h"):
        assert gate.in_flight == 1


async def test_a_slot_held_longer_than_its_lease_stops_counting() -> None:
    clock = ManualClock()
    gate = ExchangeGate(1, 1, clock, lease_seconds=35)
    stuck = asyncio.ensure_future(hold(gate, "h", asyncio.Event(), []))
    await asyncio.sleep(0.01)
    clock.advance(36)
    async with gate.slot("h"):  # the stuck exchange no longer counts
        assert gate.in_flight == 1 and gate.expired == 1
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)
    assert gate.in_flight == 0  # the expired slot is not given back twice
