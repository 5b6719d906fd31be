"""Paced load for `bench/speed_bench.py`: reviews sent at a fixed rate over warm keep-alive TLS
connections, each answer's latency measured from the moment it was due to be sent.

Open loop: request N is due at `start + N / rate` whatever happened to the ones before, so a slow
answer delays none of the following sends and cannot hide itself (no coordinated omission). A request
goes out on a free connection; when none is free a new one is opened (its handshake then counts in
that answer's latency, as it would for the API server). HTTP/1.1 is spoken directly on asyncio
streams: a client library's own cost would blur the figures.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from pathlib import Path

HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class PacedResult:
    latencies: list[float]  # seconds, from when each request was due to its whole answer
    failed: int  # no answer, or not HTTP 200
    opened: int  # connections opened (the warm ones included)


class _Connections:
    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.port, self.context = port, context
        self.idle: collections.deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = collections.deque()
        self.opened = 0

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.popleft()  # the longest idle first: none outlives the server's keep-alive
        self.opened += 1
        return await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
        )

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(HEAD_END)
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def paced(
    port: int, ca_file: Path, path: str, body: bytes, rate: float, seconds: float, warm: int = 8
) -> PacedResult:
    """POST `body` to `path` `rate` times a second for `seconds` over HTTPS to 127.0.0.1:`port`."""
    context = ssl.create_default_context(cafile=str(ca_file))
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    connections = _Connections(port, context)
    for _ in range(warm):
        connection = await connections.take()
        await _exchange(*connection, request)
        connections.idle.append(connection)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failed = 0

    async def one(due: float) -> None:
        nonlocal failed
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            connection = await connections.take()
            status = await _exchange(*connection, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            failed += 1
            return
        latencies.append(loop.time() - due)
        if status != 200:
            failed += 1
        connections.idle.append(connection)

    start = loop.time() + 0.1
    count = int(rate * seconds)
    await asyncio.gather(*(one(start + n / rate) for n in range(count)))
    connections.close()
    return PacedResult(latencies, failed, connections.opened)
