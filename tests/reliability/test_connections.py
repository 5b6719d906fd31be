"""Held connections cost bounded memory and never keep a review out.

Against a `sigwebhook serve` process (its own memory, measured from `/proc`): 1,000 idle TCP
connections, idle TLS connections, an idle keep-alive connection and 20 half-sent 8 MiB bodies. At
most `server.maxConnections` are open at once (the oldest idle one makes room for a newcomer), each has
5 s for its TLS handshake and 10 s for a request head, idle keep-alives go after 5 s, a body must
arrive within 10 s, and bodies held at once are bounded. Before this, 1,000 idle connections took the
server from 67 to 373 MB and 20 half-sent bodies added 196 MB (the chart's limit is 384 Mi).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.signing import KeyPair
from tests.support.load import closing, post_reviews
from tests.support.served import ServedWebhook
from tests.webhook.reviews import review

pytestmark = pytest.mark.reliability
UNMATCHED = review([("app", "registry.example/elsewhere/app:1")])  # answered without a registry


def config(key: KeyPair) -> dict[str, Any]:
    policy = {"name": "lane", "images": ["registry.example/team/**"], "keys": [{"file": str(key.public)}]}
    return {"policies": [policy]}


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed `sock` (what it sent before is read and dropped)."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def tls_connection(webhook: ServedWebhook) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", webhook.port), timeout=10)
    return webhook.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")


def answered_in_time(webhook: ServedWebhook) -> float:
    """Seconds a review took to be answered (it is: asserted)."""
    (answer,) = asyncio.run(post_reviews(webhook.url, webhook.ca_file, [UNMATCHED], timeout=10))
    assert answer.status == 200 and answer.allowed is False, answer
    return answer.seconds


def test_a_thousand_idle_connections_hold_bounded_memory_and_never_keep_a_review_out(
    serve: Callable[[dict[str, Any]], ServedWebhook], key_pairs: dict[str, KeyPair]
) -> None:
    webhook = serve(config(key_pairs["ecdsa-p256"]))
    before = webhook.rss_mb()
    with closing([socket.create_connection(("127.0.0.1", webhook.port)) for _ in range(1000)]) as idle:
        time.sleep(1.5)
        assert answered_in_time(webhook) < 3.0  # room is made for it
        grown = webhook.rss_mb() - before
        assert grown < 110, f"RSS grew by {grown:.0f} MB with 1,000 idle connections"
        time.sleep(6.0)  # the TLS handshake time (5 s) of the last ones accepted has passed
        still_open = [sock for sock in idle if not closed_by_server(sock)]
        assert not still_open, f"{len(still_open)} idle connections still open"
    assert answered_in_time(webhook) < 3.0


def test_idle_connections_and_half_sent_bodies_are_closed_in_time_and_memory_stays_bounded(
    serve: Callable[[dict[str, Any]], ServedWebhook], key_pairs: dict[str, KeyPair]
) -> None:
    webhook = serve(config(key_pairs["ecdsa-p256"]))
    before = webhook.rss_mb()
    body_size = 8 * 1024 * 1024
    head = (
        b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % body_size
    )
    with closing([tls_connection(webhook) for _ in range(100)]) as idle, closing([]) as halves:
        keep_alive = tls_connection(webhook)
        keep_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert keep_alive.recv(4096).startswith(b"HTTP/1.1 200")
        for _ in range(20):
            half = tls_connection(webhook)
            halves.append(half)
            half.sendall(head)
            half.settimeout(2)
            with contextlib.suppress(OSError):  # the server may stop reading: its answer came already
                half.sendall(b" " * (body_size // 2))
        grown = webhook.rss_mb() - before
        assert grown < 100, f"RSS grew by {grown:.0f} MB with held connections and half-sent bodies"
        assert answered_in_time(webhook) < 3.0
        time.sleep(6.0)
        assert closed_by_server(keep_alive), "an idle keep-alive connection is still open after 6 s"
        time.sleep(5.5)  # 10 s for a request head, 10 s for a body
        assert [closed_by_server(sock) for sock in idle] == [True] * len(idle)
        for half in halves:
            half.setblocking(True)
            half.settimeout(2)
            answer = half.recv(64)
            assert answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503")), answer
            assert closed_by_server(half)
    assert webhook.rss_mb() - before < 100
