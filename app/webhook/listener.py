"""Accepting connections for the webhook: a bounded number at a time, each given limited time.

uvicorn accepts every connection the kernel hands it and waits for a request on it for ever: 1,000
idle TCP connections took the server from 67 to 373 MB (asyncio gives each TLS connection a 256 KiB
read buffer), enough to be killed at the chart's memory limit. `BoundedListener` accepts on the
listening socket itself, at most `max_connections` open at once: when full, the oldest connection
with no request in progress is closed to make room (idle connections cannot keep the API server
out), and when every one is answering a request, callers wait in the kernel's accept queue, which
costs this process nothing. A failed handshake leaves no reference cycle that would keep its buffer
until a full garbage collection. Each accepted connection has
`HANDSHAKE_SECONDS` for its TLS handshake, then `HEAD_SECONDS` to send each request's head (from the
moment it connects or its previous answer went out, whatever trickles in meanwhile: data arriving
does not restart it). Idle keep-alive connections are closed after uvicorn's `timeout_keep_alive`,
and a body must arrive within `app.webhook.app.BODY_SECONDS`.

The protocol is uvicorn's own (h11 or httptools), extended by `_Timed` with the head timer and a
callback when the connection ends; the listener stands in uvicorn's list of servers, so uvicorn's
graceful shutdown closes it like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

from app.core.kits import collect

log = logging.getLogger("sigwebhook.server")

HANDSHAKE_SECONDS = 5.0
HEAD_SECONDS = 10.0
TLS_CLOSE_SECONDS = 2.0  # for the peer's close_notify at a closing (asyncio waits 30 s by default)
ACCEPT_ERROR_PAUSE_SECONDS = 0.5  # after EMFILE and the like, before accepting again


class _Timed:
    """Mixed into uvicorn's protocol class: a request head must arrive within `head_seconds` of the
    connection opening or of the previous answer; `ended` is called once when the connection ends."""

    cycle: Any
    transport: asyncio.Transport | None
    ended: Callable[[], None]
    head_seconds: float
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._in_request():
            self._stop_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self._in_request():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        try:
            super().connection_lost(exc)  # type: ignore[misc]
        finally:
            self.ended()

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = asyncio.get_running_loop().call_later(self.head_seconds, self._head_overdue)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if not self._in_request() and self.transport is not None and not self.transport.is_closing():
            self.transport.abort()  # nothing owed to a peer that sent no request: no TLS goodbye


def timed_protocol(protocol_class: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's `protocol_class` with the head timer and the end callback of `_Timed`."""
    return type(f"Timed{protocol_class.__name__}", (_Timed, protocol_class), {})


class _Accepted:
    """One accepted connection: in its TLS handshake (`handshake`), then served (`protocol`)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.handshake: asyncio.Task[None] | None = None
        self.protocol: _Timed | None = None
        self.closing = False

    def busy(self) -> bool:
        """True while a request is being answered on it (never closed to make room then)."""
        return self.protocol is not None and self.protocol._in_request()

    def close(self) -> None:
        self.closing = True
        if self.protocol is not None and self.protocol.transport is not None:  # connected
            self.protocol.transport.abort()
            return
        # Still in its handshake: shut the socket down (its transport owns the descriptor), so the
        # handshake fails at once and ends the way every failed handshake does.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class BoundedListener:
    """Accepts TLS connections on `sock`, at most `max_connections` open at once. When full, the
    oldest connection with no request in progress (handshaking, idle, or sending its head slowly) is
    closed to make room; when every one is answering a request, new callers wait in the kernel's
    queue. A flood of idle connections thus costs a bounded amount of memory and cannot keep the API
    server out. Has the `close()` and `wait_closed()` uvicorn's shutdown calls on its servers."""

    def __init__(
        self,
        sock: socket.socket,
        protocol: Callable[[Callable[[], None]], asyncio.Protocol],
        tls: ssl.SSLContext | None,
        max_connections: int,
    ) -> None:
        """`protocol(ended)` makes the protocol of one connection, calling `ended` when it ends."""
        self._sock, self._protocol, self._tls, self._max = sock, protocol, tls, max_connections
        self._open: dict[_Accepted, None] = {}  # in the order accepted: the oldest first
        self._freed = asyncio.Event()
        self._accepting: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sock.setblocking(False)
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    def close(self) -> None:
        """Stop accepting (the connections already open go on until uvicorn closes them)."""
        if self._accepting is not None:
            self._accepting.cancel()
        for accepted in list(self._open):
            handshaking = accepted.protocol is None or accepted.protocol.transport is None
            if handshaking and accepted.handshake is not None:
                accepted.handshake.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        pending = [a.handshake for a in self._open if a.handshake is not None and not a.handshake.done()]
        if self._accepting is not None:
            pending.append(self._accepting)
        if pending:
            await asyncio.wait(pending)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while len(self._open) >= self._max:
                # Close the oldest idle connection and wait until it is gone (its buffers freed)
                # before accepting the next: accepting first would let a flood hold every buffer
                # at once. When all are answering requests, wait for one to end.
                self._make_room()
                self._freed.clear()
                await self._freed.wait()
            try:
                connection, _ = await loop.sock_accept(self._sock)
            except OSError as error:  # too many open files, a connection reset before accept, …
                log.warning("accepting a connection failed: %s", error)
                await asyncio.sleep(ACCEPT_ERROR_PAUSE_SECONDS)
                continue
            _no_delay(connection)
            accepted = _Accepted(connection)
            self._open[accepted] = None
            accepted.handshake = loop.create_task(self._serve(connection, accepted))
            accepted.handshake.add_done_callback(collect)

    def _make_room(self) -> None:
        if any(accepted.closing for accepted in self._open):
            return  # one is on its way out already
        idle = next((accepted for accepted in self._open if not accepted.busy()), None)
        if idle is not None:
            idle.close()

    async def _serve(self, connection: socket.socket, accepted: _Accepted) -> None:
        """Hand `connection` to the protocol once its TLS handshake is done (or give up on it)."""
        ended = _once(lambda: self._forget(accepted))

        def protocol() -> asyncio.Protocol:
            made = self._protocol(ended)
            accepted.protocol = made if isinstance(made, _Timed) else None
            return made

        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                protocol,
                connection,
                ssl=self._tls,
                ssl_handshake_timeout=HANDSHAKE_SECONDS if self._tls is not None else None,
                ssl_shutdown_timeout=TLS_CLOSE_SECONDS if self._tls is not None else None,
            )
        except asyncio.CancelledError:  # stopping: never handed over
            accepted.protocol = None
            connection.close()
            ended()
            raise
        except (OSError, ssl.SSLError, TimeoutError) as error:  # a failed or overdue handshake
            accepted.protocol = None
            connection.close()  # no protocol was connected: nothing else will end it
            ended()
            # asyncio keeps this error in a future its own frames refer to: a cycle that holds the
            # connection's 256 KiB buffer until a full garbage collection, which a flood of failed
            # handshakes outruns (RSS grew by 50 MB per 250 of them). Without the traceback, no cycle.
            error.__traceback__ = None

    def _forget(self, accepted: _Accepted) -> None:
        if self._open.pop(accepted, False) is None:
            self._freed.set()


def _no_delay(connection: socket.socket) -> None:
    """Send each write at once (TCP_NODELAY). asyncio sets it only on sockets whose `proto` says TCP,
    which a socket made as `socket(AF_INET, SOCK_STREAM)` and those it accepts do not: without it, an
    answer written in two parts (head, then body) waited for the peer's delayed ACK, 40 ms per review."""
    if connection.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """`action`, run at most once however often the result is called."""
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            action()

    return run
