"""Reading a registry's answer off the wire: identity only, bounded, and to its end so its connection is kept.

We send `Accept-Encoding: identity` (RFC 9110 §12.5.3): decoding anyway would inflate a compression
bomb before any size limit applies, and digests are over the bytes as stored. A body is read up to the
caller's limit (error bodies up to `SMALL_BODY`, only for the message) and refused past it. An answer
without a body to keep (HEAD, a redirect) is still read to its end: httpcore closes a connection whose
answer was left unread, and every tag resolution would then pay a new connection, and its TLS
handshake, to the registry.
"""

from __future__ import annotations

import httpx

from app.core.errors import RegistryProtocolError
from app.registry.redaction import Redactor
from app.registry.replies import Reply

SMALL_BODY = 64 * 1024  # token answers, upload answers, error bodies
REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def read_answer(
    response: httpx.Response, method: str, max_bytes: int, host: str, what: str, redactor: Redactor
) -> Reply:
    """The `Reply` to `method` read from `response`; `redactor` quotes the registry's text in messages.
    Raises `RegistryProtocolError` for an encoding we did not accept or a body past `max_bytes`."""
    status, relay = response.status_code, redactor.relay
    headers = {k.lower(): v for k, v in response.headers.items()}
    if method == "HEAD" or status in REDIRECTS:
        if status < 400 or status == 401:
            # A 401 (how a registry first says how to authenticate) is asked again at once: its
            # connection is kept too. Other error answers close it: a server that errs may also have
            # sent a body after a HEAD answer, which would be read as the start of the next answer.
            await _drain(response, SMALL_BODY)
        return Reply(status, headers, relay=relay)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        if status >= 400:  # an error body is only for the message
            return Reply(status, headers, relay=relay)
        raise RegistryProtocolError(
            f"{host} sent {what} with Content-Encoding {relay(encoding, 40)!r} although only identity was accepted"
        )
    limit = max_bytes if status < 400 else SMALL_BODY
    declared = headers.get("content-length", "")
    if status < 400 and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RegistryProtocolError(f"{host} sent {what} of {declared} bytes, more than the {limit} allowed")
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.aiter_raw():  # never decoded: identity only, checked above
        received += len(chunk)
        if received > limit:
            if status >= 400:
                break  # an error body is only for the message: keep what fits
            raise RegistryProtocolError(f"{host} sent {what} of more than the {limit} bytes allowed")
        chunks.append(chunk)
    return Reply(status, headers, b"".join(chunks), relay)


async def _drain(response: httpx.Response, limit: int) -> None:
    """Read and drop the rest of `response`, up to `limit` bytes (past that the connection is closed)."""
    if response.is_stream_consumed:  # an answer made in memory (a test transport) was read already
        return
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            return
