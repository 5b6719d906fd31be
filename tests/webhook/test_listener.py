"""The bounded listener's own promises, below HTTP: how an accepted connection is set up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from app.webhook.listener import BoundedListener


class _Recording(asyncio.Protocol):
    def __init__(self, seen: asyncio.Future[int]) -> None:
        self.seen = seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self.seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        transport.close()


async def test_an_accepted_connection_sends_each_write_at_once_without_waiting_for_an_ack() -> None:
    # A socket made as the server makes its own (`socket(AF_INET, SOCK_STREAM)`, protocol 0): asyncio
    # leaves Nagle's algorithm on for the connections it accepts, and an answer written as head then
    # body then waited 40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def protocol(_ended: Callable[[], None]) -> asyncio.Protocol:
        return _Recording(seen)

    listener = BoundedListener(sock, protocol, None, max_connections=4)
    listener.start()
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname())
        assert await asyncio.wait_for(seen, 5) != 0
        writer.close()
    finally:
        listener.close()
        await listener.wait_closed()
