"""The one path every registry HTTP request takes: auth, TLS, timeouts, bounded reads, redirects, errors.

`RegistryTransport.request` is the choke point: it adds `Authorization` (only for the
registry's own origin), follows redirects when asked (a blob on a CDN gets no registry credentials),
reads at most `max_bytes` of a body and stops past that (refusing content encodings it did not accept),
counts every request, and turns every httpx exception, 401/403 after auth, 429 and 5xx into
`app.core.errors` (chained with `raise … from`). Other statuses (200, 404, …) are returned as a `Reply` for the caller to interpret. No httpx type leaves here.
Registry text quoted in a message (error bodies, header values, the library's exception text) goes
through `redactor` (`app.registry.redaction`): the credentials this transport sends never come back out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import certifi
import httpx

from app.core.errors import (
    ConfigError,
    RegistryError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
)
from app.core.ports import Clock
from app.registry.auth import Authenticator
from app.registry.errors import map_transport_error
from app.registry.redaction import PATTERNS_ONLY, Redactor
from app.registry.replies import Reply, RequestStats, outcome_of
from app.registry.settings import RegistrySettings

log = logging.getLogger(__name__)

SMALL_BODY = 64 * 1024  # token answers, upload answers, error bodies
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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


class SystemClock:
    """Wall and monotonic time from the OS; the default when no clock is injected."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class RegistryTransport:
    """HTTP for registries: one httpx client per origin (each with its CA bundle), one request path."""

    def __init__(self, settings: RegistrySettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.stats = RequestStats()
        self.auth = Authenticator(settings, clock or SystemClock(), self._fetch_token)
        self._clients: dict[str, httpx.AsyncClient] = {}
        timeouts = settings.timeouts
        self._timeout = httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.connect
        )

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

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
        own_origin = _origin(self.settings.base_url(registry) + "/")
        for _ in range(self.settings.max_redirects + 1):
            same_origin = _origin(outgoing.url) == own_origin
            reply = await self._authorized(outgoing, registry, scope, authenticate=same_origin)
            if not (follow_redirects and reply.status in _REDIRECTS):
                return reply
            location = reply.header("location")
            if not location:
                raise RegistryProtocolError(f"{registry} redirected {what} without a Location")
            target = urllib.parse.urljoin(outgoing.url, location)
            _check_redirect(
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
            client = self._client(parts.scheme, host)
            async with asyncio.timeout(self.settings.timeouts.total):
                reply = await self._send(client, outgoing, host)
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

    async def _send(self, client: httpx.AsyncClient, outgoing: _Outgoing, host: str) -> Reply:
        what, method = outgoing.what, outgoing.method
        request_headers = {"Accept-Encoding": "identity", **outgoing.headers}
        async with client.stream(
            method, outgoing.url, headers=request_headers, content=outgoing.content
        ) as response:
            status = response.status_code
            answer_headers = {k.lower(): v for k, v in response.headers.items()}
            if method == "HEAD" or status in _REDIRECTS:
                return Reply(status, answer_headers, relay=self.redactor.relay)
            encoding = answer_headers.get("content-encoding", "").strip().lower()
            if encoding not in ("", "identity"):
                # We sent `Accept-Encoding: identity` (RFC 9110 §12.5.3). Decoding anyway would inflate a
                # compression bomb before any size limit applies, and digests are over the bytes as stored.
                if status >= 400:  # an error body is only for the message
                    return Reply(status, answer_headers, relay=self.redactor.relay)
                raise RegistryProtocolError(
                    f"{host} sent {what} with Content-Encoding {self.redactor.relay(encoding, 40)!r} "
                    "although only identity was accepted"
                )
            limit = outgoing.max_bytes if status < 400 else SMALL_BODY
            declared = answer_headers.get("content-length", "")
            if status < 400 and declared.isascii() and declared.isdigit() and int(declared) > limit:
                raise RegistryProtocolError(
                    f"{host} sent {what} of {declared} bytes, more than the {limit} allowed"
                )
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_raw():  # never decoded: identity only, checked above
                received += len(chunk)
                if received > limit:
                    if status >= 400:
                        break  # an error body is only for the message: keep what fits
                    raise RegistryProtocolError(f"{host} sent {what} of more than the {limit} bytes allowed")
                chunks.append(chunk)
            return Reply(status, answer_headers, b"".join(chunks), self.redactor.relay)

    def _client(self, scheme: str, host: str) -> httpx.AsyncClient:
        key = f"{scheme}://{host}"
        client = self._clients.get(key)
        if client is None:
            # A client serves one origin and never follows redirects itself, so a plain-HTTP origin
            # never speaks TLS: `verify=False` only spares building an unused context (~50 ms).
            verify: ssl.SSLContext | bool = False
            if scheme == "https":
                verify = tls_context(self.settings.ca_file_for(host))
            # trust_env=False: no proxy variables and, above all, no ~/.netrc credentials sent anywhere.
            client = httpx.AsyncClient(
                verify=verify, timeout=self._timeout, follow_redirects=False, trust_env=False
            )
            self._clients[key] = client
        return client


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


def _check_redirect(
    registry: str,
    what: str,
    current: str,
    target: str,
    is_insecure: Callable[[str], bool],
    relay: Callable[[str], str] = PATTERNS_ONLY.relay,
) -> None:
    """A redirect may go to another host (a blob CDN) but not off HTTP(S), and never from HTTPS down to
    plain HTTP unless the target host is itself listed as insecure: what a registry sends over TLS is
    not fetched in clear text (the bytes are digest-checked anyway, but the request would be seen)."""
    scheme = urllib.parse.urlsplit(target).scheme
    if scheme not in ("http", "https"):
        raise RegistryProtocolError(f"{registry} redirected {what} to a {relay(scheme) or 'relative'} URL")
    if scheme == "http" and urllib.parse.urlsplit(current).scheme == "https":
        host = urllib.parse.urlsplit(target).netloc.rpartition("@")[2]
        if not is_insecure(host):
            raise RegistryProtocolError(
                f"{registry} redirected {what} from HTTPS to plain HTTP ({relay(host)}, not listed as insecure)"
            )


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a malformed port: never the registry's origin
        return parts.scheme, parts.netloc
    return parts.scheme, f"{(parts.hostname or '').lower()}:{port}"
