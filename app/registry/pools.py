"""One HTTP connection pool per origin, replaced when it stops making progress, and their health.

httpcore 1.0.9 can keep a connection slot forever when a request is cancelled while the pool is
contended (https://github.com/encode/httpcore/issues/1093): once every slot is lost, each request
waits for a connection that never comes, until the process restarts. Three defences, so that this
cannot recur whatever the library does:

- the gate (`app.registry.gate`) lets at most as many exchanges reach an origin as its pool has
  connections, so the pool never queues requests, the condition that loses slots;
- an exchange that waits for a pooled connection anyway (`PoolTimeout`: only a lost slot explains it)
  or outlives its own time limit marks its pool stalled: the next exchange gets a new pool (the
  transport retries a request that was never sent on it), and the old one is closed in the background;
- `PoolHealth` reports an origin whose new pool stalled as well, before any answer came back: `/readyz`
  then says the registry client is broken, so the API server is sent to the other replicas.

How an origin's pool is made is injectable (`Connect`): production builds httpx's HTTP transport with
TLS and limits; tests may hand in `httpx.MockTransport` for edge cases no real registry produces.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import certifi
import httpcore
import httpx

from app.core.errors import ConfigError
from app.core.kits import collect
from app.registry.sockets import IdleCheckBackend

log = logging.getLogger(__name__)

# (scheme, host) -> the transport of that origin's pool.
Connect = Callable[[str, str], httpx.AsyncBaseTransport]
CLOSE_SECONDS = 5.0  # a replaced pool that does not close in this time is left to the garbage collector
KEEPALIVE_SECONDS = 30.0  # idle registry connections kept this long (a review burst reuses them)


def http_transport(
    ca_file_for: Callable[[str], Path | None],
    max_connections: int,
    backend: Callable[[], httpcore.AsyncNetworkBackend] = IdleCheckBackend,
) -> Connect:
    """The production `Connect`: httpx's transport with `max_connections` connections per origin,
    trusting the public roots plus `ca_file_for(host)` over HTTPS (plain-HTTP origins never speak TLS),
    its connections made by a `backend()` of each origin."""

    def connect(scheme: str, host: str) -> httpx.AsyncBaseTransport:
        # `verify=False` for plain HTTP only spares building an unused context (~50 ms).
        verify: ssl.SSLContext | bool = tls_context(ca_file_for(host)) if scheme == "https" else False
        transport = httpx.AsyncHTTPTransport(verify=verify)
        # httpx takes no network backend, so its pool is made again with ours (`app.registry.sockets`);
        # the rest of the transport (requests, answers, errors) is httpx's own.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify if isinstance(verify, ssl.SSLContext) else None,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=backend(),
        )
        return transport

    return connect


@functools.lru_cache(maxsize=64)
def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The public roots (certifi) plus `ca_file`, as Docker adds `certs.d` CAs to the system pool.

    Built once per process and CA file (loading the roots costs ~35 ms); a context is never changed
    after it is built, so transports may share it. A CA file that cannot be read is not cached."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CA file {ca_file} is not a readable PEM certificate bundle") from exc
    return context


@dataclass(eq=False)
class Pool:
    """One origin's client; `stalled` once it was replaced."""

    origin: str
    client: httpx.AsyncClient
    stalled: bool = False


class PoolHealth:
    """Stalled pools by origin, for readiness; shared by every registry client of the process."""

    def __init__(self) -> None:
        self._stalls: dict[str, int] = {}  # origin -> stalls since its last answer
        self.rebuilds = 0

    def stalled(self, origin: str, why: str) -> None:
        self._stalls[origin] = self._stalls.get(origin, 0) + 1
        self.rebuilds += 1
        log.warning("registry connections to %s stalled (%s): using a new connection pool", origin, why)

    def answered(self, origin: str) -> None:
        if origin in self._stalls:
            del self._stalls[origin]
            log.info("registry connections to %s answer again", origin)

    def problem(self) -> str | None:
        """Why the registry client is broken (a new pool stalled as well), or None."""
        broken = sorted(origin for origin, stalls in self._stalls.items() if stalls >= 2)
        if not broken:
            return None
        return f"registry connections stalled again after a new pool: {', '.join(broken[:5])}"


class Pools:
    """The clients of one registry client, one per origin (scheme://host), made by `connect`."""

    def __init__(self, connect: Connect, timeout: httpx.Timeout, health: PoolHealth) -> None:
        self._connect, self._timeout, self.health = connect, timeout, health
        self._pools: dict[str, Pool] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def get(self, scheme: str, host: str) -> Pool:
        origin = f"{scheme}://{host}"
        pool = self._pools.get(origin)
        if pool is None:
            # trust_env=False: no proxy variables and, above all, no ~/.netrc credentials sent anywhere.
            client = httpx.AsyncClient(
                transport=self._connect(scheme, host),
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,
            )
            pool = self._pools[origin] = Pool(origin, client)
        return pool

    def stalled(self, pool: Pool, why: str) -> None:
        """Replace `pool` (once), and close it in the background."""
        if pool.stalled:
            return
        pool.stalled = True
        if self._pools.get(pool.origin) is pool:
            del self._pools[pool.origin]
        self.health.stalled(pool.origin, why)
        closing = asyncio.ensure_future(_close(pool.client))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        closing.add_done_callback(collect)

    def answered(self, pool: Pool) -> None:
        if not pool.stalled:
            self.health.answered(pool.origin)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await _close(pool.client)
        if self._closing:
            await asyncio.wait(self._closing)


async def _close(client: httpx.AsyncClient) -> None:
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await client.aclose()
    except Exception:  # a stalled pool may fail to close: it is dropped either way
        log.debug("closing a registry connection pool failed", exc_info=True)
