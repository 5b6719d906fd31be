"""The small kits: an expiring cache, shared in-flight work, collecting abandoned tasks, an overlay."""

from __future__ import annotations

import asyncio
import gc

import pytest

from app.core.kits import ExpiringCache, Overlay, SharedWork, collect
from tests.fakes import ManualClock


def test_a_cached_value_is_returned_until_its_time_is_up_with_the_seconds_it_has_left() -> None:
    clock = ManualClock()
    cache: ExpiringCache[str, int] = ExpiringCache(10, clock)
    cache.put("a", 1, 5)
    clock.advance(4)
    assert cache.get("a") == 1 and cache.lookup("a") == (1, pytest.approx(1))
    clock.advance(1)
    assert cache.get("a") is None and len(cache) == 0


def test_a_full_cache_forgets_the_least_recently_used_and_no_time_means_forget() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(2, ManualClock())
    cache.put("a", 1, 60)
    cache.put("b", 2, 60)
    cache.get("a")
    cache.put("c", 3, 60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.put("a", 9, 0)
    assert cache.get("a") is None and len(cache) == 1


def test_every_value_still_held_is_listed_expired_ones_too_until_they_are_dropped() -> None:
    clock = ManualClock()
    cache: ExpiringCache[str, str] = ExpiringCache(10, clock)
    cache.put("old", "t1", 1)
    cache.put("new", "t2", 60)
    clock.advance(2)
    assert cache.stored() == ("t1", "t2")
    assert cache.get("old") is None and cache.stored() == ("t2",)


async def test_concurrent_callers_of_one_key_share_one_run_and_other_keys_run_apart() -> None:
    work: SharedWork[str, str] = SharedWork()
    runs: list[str] = []
    release = asyncio.Event()

    async def job(name: str) -> str:
        runs.append(name)
        await release.wait()
        return name.upper()

    callers = [asyncio.ensure_future(work.run(key, lambda key=key: job(key))) for key in ("a", "a", "b", "a")]
    await asyncio.sleep(0)
    assert "a" in work and len(work) == 2
    release.set()
    assert await asyncio.gather(*callers) == ["A", "A", "B", "A"]
    assert sorted(runs) == ["a", "b"] and len(work) == 0


async def test_a_run_goes_on_when_its_callers_give_up_and_a_later_caller_starts_anew() -> None:
    work: SharedWork[str, int] = SharedWork()
    finished = []

    async def job() -> int:
        await asyncio.sleep(0.05)
        finished.append(1)
        return len(finished)

    caller = asyncio.ensure_future(work.run("k", job))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.1)
    assert finished == [1] and "k" not in work
    assert await work.run("k", job) == 2


async def test_a_failed_run_nobody_awaits_is_collected_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work: SharedWork[str, int] = SharedWork()

    async def fails() -> int:
        raise ValueError("boom")

    work.start("k", fails)
    await asyncio.sleep(0.01)
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_collect_hands_an_abandoned_tasks_error_to_its_handler_and_ignores_cancellation() -> None:
    seen: list[BaseException] = []

    async def fails() -> None:
        raise KeyError("x")

    failing = asyncio.ensure_future(fails())
    cancelled = asyncio.ensure_future(asyncio.sleep(10))
    for task in (failing, cancelled):
        task.add_done_callback(lambda done: collect(done, seen.append))
    cancelled.cancel()
    await asyncio.sleep(0.01)
    assert [type(error) for error in seen] == [KeyError]


def test_an_overlay_reads_its_top_first_and_a_callable_at_every_read_and_shows_no_values() -> None:
    live = {"a": "live-a"}
    overlay = Overlay(lambda: dict(live), {"a": "static-a", "b": "static-b"})
    assert overlay["a"] == "live-a" and overlay["b"] == "static-b" and len(overlay) == 2
    live["c"] = "live-c"
    assert dict(overlay) == {"a": "live-a", "b": "static-b", "c": "live-c"}
    with pytest.raises(KeyError):
        overlay["z"]
    assert "live" not in repr(overlay) and "static" not in repr(overlay)
