"""The registry client's pools under faults no real registry produces, through the injectable
transport (`httpx.MockTransport`): a pool that lost its connections is replaced and the request sent
again on a new one; an exchange whose library ignores cancellation is abandoned at its time limit and
its pool replaced; `PoolHealth` reports an origin only while its new pools stall as well."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from app.core.errors import RegistryTimeout
from app.core.references import parse_reference
from app.registry import OciRegistry, RegistrySettings, Timeouts
from app.registry.pools import Connect, PoolHealth

HOST = "registry.test:5000"
DIGEST = "sha256:" + "a" * 64
REF = parse_reference(f"{HOST}/team/app:1")
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def settings(total: float = 30.0) -> RegistrySettings:
    return RegistrySettings.build(
        insecure_registries=[HOST], timeouts=Timeouts(connect=1, read=total, total=total)
    )


def answers(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST, "Content-Length": "0"})


def lost_connections(request: httpx.Request) -> httpx.Response:
    raise httpx.PoolTimeout("no connection came free", request=request)


async def ignores_cancellation(request: httpx.Request) -> httpx.Response:
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue
    return answers(request)


def connect_with(*handlers: Handler) -> tuple[list[str], Connect]:
    """A `Connect` whose n-th pool answers with the n-th handler (the last one from then on)."""
    made: list[str] = []

    def connect(scheme: str, host: str) -> httpx.AsyncBaseTransport:
        made.append(f"{scheme}://{host}")
        return httpx.MockTransport(handlers[min(len(made), len(handlers)) - 1])

    return made, connect


async def test_a_pool_that_lost_its_connections_is_replaced_and_the_request_sent_again() -> None:
    health = PoolHealth()
    made, connect = connect_with(lost_connections, answers)
    async with OciRegistry(settings(), health=health, connect=connect) as registry:
        assert str((await registry.resolve(REF)).digest) == DIGEST
        assert made == [f"http://{HOST}"] * 2 and registry.stats.total == 1
        assert health.rebuilds == 1 and health.problem() is None


async def test_an_origin_whose_new_pool_stalls_too_is_reported_until_an_answer_comes() -> None:
    health = PoolHealth()
    made, connect = connect_with(lost_connections, lost_connections, answers)
    async with OciRegistry(settings(), health=health, connect=connect) as registry:
        with pytest.raises(RegistryTimeout, match="timed out"):
            await registry.resolve(REF)
        assert health.problem() == f"registry connections stalled again after a new pool: http://{HOST}"
        await registry.resolve(REF)
        assert health.problem() is None and len(made) == 3


async def test_an_exchange_that_ignores_cancellation_is_abandoned_at_its_limit_and_its_pool_replaced() -> (
    None
):
    health = PoolHealth()
    made, connect = connect_with(ignores_cancellation, answers)
    async with OciRegistry(settings(total=0.5), health=health, connect=connect) as registry:
        started = time.monotonic()
        with pytest.raises(RegistryTimeout, match=r"did not complete an answer within 0\.5 s"):
            await registry.resolve(REF)
        assert time.monotonic() - started < 2.0  # the limit and a 1 s grace, not the 3 s it ignores
        assert health.rebuilds == 1
        await registry.resolve(REF)  # on a new pool
        assert len(made) == 2
