"""The registry pools' idle-connection check (`app.registry.sockets`): a connection the registry closed
is never used again, however cheaply the check is made."""

from __future__ import annotations

import asyncio
import socket

import pytest

from app.core.errors import RegistryUnavailable
from app.core.references import Repository, parse_reference
from app.registry import OciRegistry
from app.registry.pools import http_transport
from app.registry.sockets import IdleCheckBackend, readable
from tests.support.fault_proxy import FaultProxy
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry


def test_an_open_quiet_socket_is_not_readable_and_one_whose_peer_closed_is() -> None:
    ours, theirs = socket.socketpair()
    with ours:
        assert readable(ours) is False
        theirs.close()
        assert readable(ours) is True


def test_a_closed_or_missing_socket_counts_as_readable_so_its_connection_is_dropped() -> None:
    closed = socket.socket()
    closed.close()
    assert readable(closed) is True
    assert readable(None) is True


async def test_a_connection_the_registry_hung_up_is_replaced_not_reused(plain_registry: TestRegistry) -> None:
    digest = push_image(plain_registry, "sockets/hang-up", "v1", content=b"hang up")
    with FaultProxy(plain_registry.host) as proxy:
        proxy.add(r"^HEAD /v2/", "hang_up", times=1)
        async with OciRegistry(proxy.settings()) as registry:
            ref = parse_reference(f"{Repository(proxy.host, 'sockets/hang-up')}:v1")
            first = await registry.resolve(ref)
            await asyncio.sleep(0.1)  # the hang-up reaches the client
            second = await registry.resolve(ref)
    assert first.digest == second.digest == digest
    assert [seen.method for seen in proxy.seen] == ["HEAD", "HEAD"]
    assert proxy.connections == 2


async def test_a_connection_whose_error_answer_to_a_head_carried_a_body_is_not_reused(
    plain_registry: TestRegistry,
) -> None:
    # The stray body would be read as the start of the next answer on that connection.
    digest = push_image(plain_registry, "sockets/head-body", "v1", content=b"head body")
    with FaultProxy(plain_registry.host) as proxy:
        proxy.add(r"^HEAD /v2/", "head_body", 500, times=1)
        async with OciRegistry(proxy.settings()) as registry:
            ref = parse_reference(f"{Repository(proxy.host, 'sockets/head-body')}:v1")
            with pytest.raises(RegistryUnavailable):
                await registry.resolve(ref)
            resolved = await registry.resolve(ref)
    assert resolved.digest == digest
    assert proxy.connections == 2


@pytest.mark.parametrize("kind", ["plain", "tls"])
async def test_the_production_pools_make_their_connections_through_the_idle_check_backend(
    kind: str, request: pytest.FixtureRequest
) -> None:
    # The backend is put into httpx's transport by replacing a private attribute: if httpx stopped
    # using it, nothing would go through the backend. Over TLS, the socket is found under the TLS
    # layer: were it not, every idle connection would look closed and each request would open one. The
    # TLS registry asks for credentials first (401): that answer keeps its connection too.
    registry_server: TestRegistry = request.getfixturevalue(f"{kind}_registry")
    push_image(registry_server, "sockets/backend", "v1", content=b"backend")
    backends: list[IdleCheckBackend] = []

    def backend() -> IdleCheckBackend:
        backends.append(IdleCheckBackend())
        return backends[-1]

    settings = registry_server.settings()
    connect = http_transport(settings.ca_file_for, 4, backend)
    async with OciRegistry(settings, connect=connect) as registry:
        ref = parse_reference(f"{registry_server.host}/sockets/backend:v1")
        for _ in range(3):
            await registry.resolve(ref)
            await asyncio.sleep(0.05)
    assert [b.opened for b in backends] == [1]
