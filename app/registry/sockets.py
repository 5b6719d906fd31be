"""The network backend of the registry pools: httpcore's own (anyio), with a cheaper idle-connection check.

Before httpcore hands a request to a pooled connection it asks every connection of the pool whether it
has expired, and for an idle one that means "is its socket readable?" (a registry that closed it).
httpcore's anyio stream answers by looking the socket up among the stream's attributes, which anyio
builds afresh as a dictionary on every look-up: with a pool of 16 warm connections that was about a
fifth of the webhook's CPU on a cold review. The socket of a stream never changes, so it is looked up
once here; the answer itself is the same poll as httpcore's.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)  # as httpcore's


class IdleCheckBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, its streams wrapped in `IdleCheckStream`."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()
        self.opened = 0  # connections made through this backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        self.opened += 1
        return IdleCheckStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        self.opened += 1
        return IdleCheckStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class IdleCheckStream(httpcore.AsyncNetworkStream):
    """A stream that answers "is_readable" from its socket, looked up once."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return IdleCheckStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._socket)
        return self._stream.get_extra_info(info)


def readable(sock: socket.socket | None) -> bool:
    """True when `sock` has something to read (for an idle connection: the peer closed it), or is gone."""
    if sock is None or sock.fileno() < 0:
        return True
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))
