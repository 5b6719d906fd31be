"""The one path every registry HTTP request takes: auth, TLS, timeouts, bounded reads, redirects, errors.

`RegistryTransport.request` is the choke point: it adds `Authorization` (only for the
registry's own origin), sends every exchange through the process's `ExchangeGate` (bounded requests
in flight) on the origin's pool (`app.registry.pools`: replaced, and the request sent again, when it
stalls), gives each exchange `timeouts.total` whatever the library does with cancellation,
follows redirects when asked (a blob on a CDN gets no registry credentials),
reads at most `max_bytes` of a body and stops past that, refusing content encodings it did not accept
(`app.registry.answers`),
counts every request, and turns every httpx exception, 401/403 after auth, 429 and 5xx into
`app.core.errors` (chained with `raise … from`). Other statuses (200, 404, …) are returned as a `Reply` for the caller to interpret. No httpx type leaves here.
Registry text quoted in a message (error bodies, header values, the library's exception text) goes
through `redactor` (`app.registry.redaction`): the credentials this transport sends never come back out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

import httpx

from app.clock import SYSTEM_CLOCK
from app.core.errors import (
    RegistryError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
)
from app.core.kits import collect
from app.core.ports import Clock
from app.registry.answers import REDIRECTS, SMALL_BODY, read_answer
from app.registry.auth import Authenticator
from app.registry.errors import map_transport_error
from app.registry.gate import ExchangeGate
from app.registry.pools import Connect, Pool, PoolHealth, Pools, http_transport
from app.registry.redaction import Redactor
from app.registry.redirects import check_redirect, origin
from app.registry.replies import Reply, RequestStats, outcome_of
from app.registry.settings import RegistrySettings

log = logging.getLogger(__name__)

# Registry requests in flight at once when the composition root passes no gate (the CLI).
DEFAULT_MAX_IN_FLIGHT = 64
DEFAULT_MAX_PER_HOST = 16
POOL_WAIT_SECONDS = 1.0
CANCEL_GRACE_SECONDS = 1.0  # a cancelled exchange still running after this ignored its cancellation
LEASE_GRACE_SECONDS = 5.0  # beyond `timeouts.total` (+ that grace), a gate slot stops counting


class RequestOptions(TypedDict, total=False):
    """The optional arguments of `RegistryTransport.request`, for callers that pass them through."""

    headers: Mapping[str, str] | None
    content: bytes | None
    max_bytes: int
    follow_redirects: bool


@dataclass(frozen=True)
class _Outgoing:
    """One request as it will be sent: `what` names it in messages; at most `max_bytes` of the answer
    are read."""

    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None
    max_bytes: int
    what: str

    def authorized(self, authorization: str | None) -> _Outgoing:
        """The same request carrying `Authorization: authorization` (unchanged when None)."""
        if not authorization:
            return self
        return dataclasses.replace(self, headers={**self.headers, "Authorization": authorization})


class RegistryTransport:
    """HTTP for registries: one request path, a pool per origin, every exchange through the gate."""

    def __init__(
        self,
        settings: RegistrySettings,
        clock: Clock | None = None,
        *,
        gate: ExchangeGate | None = None,
        health: PoolHealth | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.settings = settings
        self.stats = RequestStats()
        clock = clock or SYSTEM_CLOCK
        self.auth = Authenticator(settings, clock, self._fetch_token)
        timeouts = settings.timeouts
        self.gate = gate or ExchangeGate(
            DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_PER_HOST, clock, timeouts.total + LEASE_GRACE_SECONDS
        )
        # A request waits for a pooled connection only when the pool lost one (the gate never lets
        # more exchanges reach it than it has connections): give up soon and use a new pool.
        timeout = httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=POOL_WAIT_SECONDS
        )
        connect = connect or http_transport(settings.ca_file_for, self.gate.max_per_host)
        self.pools = Pools(connect, timeout, health or PoolHealth())

    async def aclose(self) -> None:
        await self.pools.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        registry: str,
        scope: str | None,
        what: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int = SMALL_BODY,
        follow_redirects: bool = False,
    ) -> Reply:
        """Send one request to `registry` (following redirects if asked) and return the final answer."""
        outgoing = _Outgoing(method, url, headers or {}, content, max_bytes, what)
        own_origin = origin(self.settings.base_url(registry) + "/")
        for _ in range(self.settings.max_redirects + 1):
            same_origin = origin(outgoing.url) == own_origin
            reply = await self._authorized(outgoing, registry, scope, authenticate=same_origin)
            if not (follow_redirects and reply.status in REDIRECTS):
                return reply
            location = reply.header("location")
            if not location:
                raise RegistryProtocolError(f"{registry} redirected {what} without a Location")
            target = urllib.parse.urljoin(outgoing.url, location)
            check_redirect(
                registry, what, outgoing.url, target, self.settings.is_insecure, self.redactor.relay
            )
            outgoing = dataclasses.replace(outgoing, url=target)
            if reply.status == 303:
                outgoing = dataclasses.replace(outgoing, method="GET", content=None)
        raise RegistryProtocolError(
            f"{registry} redirected {what} more than {self.settings.max_redirects} times"
        )

    async def _authorized(
        self, outgoing: _Outgoing, registry: str, scope: str | None, *, authenticate: bool
    ) -> Reply:
        """Send with the registry's credentials (answering one 401 challenge), or with none at all when
        `authenticate` is False (another origin, e.g. a blob CDN)."""
        what = outgoing.what
        sent = await self.auth.header_for(registry, scope) if authenticate else None
        purpose = "registry" if authenticate else "redirect"
        reply = await self._exchange(outgoing.authorized(sent), purpose)
        if authenticate and reply.status == 401:
            retry = await self.auth.answer(registry, scope, reply, sent, what)
            reply = await self._exchange(outgoing.authorized(retry), purpose)
            if reply.status == 401:
                raise self.auth.rejected(registry, what)
        if reply.status == 403 and authenticate:
            raise self.auth.forbidden(registry, what)
        if reply.status == 429:
            raise RegistryUnavailable(
                f"{registry} is rate-limiting requests (429 Too Many Requests) for {what}"
            )
        if reply.status >= 500:
            raise RegistryUnavailable(f"{registry} failed to serve {what} ({reply.explain()})")
        return reply

    @property
    def redactor(self) -> Redactor:
        """How registry text is quoted: without the credentials and tokens this transport may send."""
        return self.auth.redactor

    async def _fetch_token(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> Reply:
        reply = await self._exchange(_Outgoing(method, url, headers, content, SMALL_BODY, "a token"), "token")
        if reply.status == 429 or reply.status >= 500:
            host = urllib.parse.urlsplit(url).netloc
            raise RegistryUnavailable(f"the token service {host} failed ({reply.explain()})")
        return reply

    async def _exchange(self, outgoing: _Outgoing, purpose: str) -> Reply:
        """One HTTP exchange: the only place httpx is called. Every failure leaves as a `RegistryError`."""
        parts = urllib.parse.urlsplit(outgoing.url)
        host = parts.netloc.rpartition("@")[2].lower()  # never userinfo, in counters or messages
        self.stats.count(host, purpose)
        log.debug(  # no query: it may hold state
            "%s %s://%s%s (%s)", outgoing.method, parts.scheme, host, parts.path, outgoing.what
        )
        try:
            async with self.gate.slot(host):
                reply = await self._send_on_pool(parts.scheme, host, outgoing)
        except RegistryError:
            self.stats.answered(host, "error")
            raise
        except (
            httpx.HTTPError,
            httpx.InvalidURL,
            httpx.StreamError,
            OSError,
            TimeoutError,
            ssl.SSLError,
        ) as exc:
            error = map_transport_error(exc, host, self.settings.timeouts, self.redactor)
            self.stats.answered(host, "timeout" if isinstance(error, RegistryTimeout) else "error")
            raise error from exc
        self.stats.answered(host, outcome_of(reply.status))
        return reply

    async def _send_on_pool(self, scheme: str, host: str, outgoing: _Outgoing) -> Reply:
        """Send on the origin's pool, and once more on a new pool when that one had lost its
        connections (`PoolTimeout`: the request was never sent, so sending it again is safe)."""
        for attempt in (1, 2):
            pool = self.pools.get(scheme, host)
            try:
                reply = await self._within_time(pool, outgoing, host)
            except httpx.PoolTimeout:
                self.pools.stalled(pool, "a request waited for a connection although none was free to use")
                if attempt == 2:
                    raise
                continue
            self.pools.answered(pool)
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    async def _within_time(self, pool: Pool, outgoing: _Outgoing, host: str) -> Reply:
        """`_send` given `timeouts.total` seconds, whatever the library does with cancellation: the
        exchange runs as a task that is waited for, not awaited. One still running a moment after it
        was cancelled ignored its time limit, so its pool is not trusted any more."""
        task = asyncio.ensure_future(self._send(pool.client, outgoing, host))
        try:
            done, _ = await asyncio.wait((task,), timeout=self.settings.timeouts.total)
        except asyncio.CancelledError:  # the caller gave up (its deadline): so does the exchange
            task.cancel()
            task.add_done_callback(collect)
            raise
        if done:
            return task.result()
        task.cancel()
        ended, _ = await asyncio.wait((task,), timeout=CANCEL_GRACE_SECONDS)
        task.add_done_callback(collect)
        if not ended:
            self.pools.stalled(pool, f"an exchange ran past its {self.settings.timeouts.total:g} s limit")
        raise TimeoutError

    async def _send(self, client: httpx.AsyncClient, outgoing: _Outgoing, host: str) -> Reply:
        what, method = outgoing.what, outgoing.method
        request_headers = {"Accept-Encoding": "identity", **outgoing.headers}
        async with client.stream(
            method, outgoing.url, headers=request_headers, content=outgoing.content
        ) as response:
            return await read_answer(response, method, outgoing.max_bytes, host, what, self.redactor)
