"""The reliability lane: the webhook as a real HTTPS server (a `sigwebhook serve` process where memory,
signals or a second process matter), the real registry, and the fault-injecting proxy in front of it.

Fixtures: `serve(config)` starts `sigwebhook serve` (stopped at the end of the test); `cold_images` are
200 distinct signed images (one in four with a cosign v3 bundle, the rest cosign v2) pushed once per
module; `lane_config(...)` is a config trusting the test key for every image of a host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry
from tests.fixtures.signing import FIXTURE_PASSWORD, KeyPair, key_policy
from tests.support.certs import ServerTls
from tests.support.load import push_signed_images
from tests.support.served import ServedWebhook

COLD_IMAGES = 200


def lane_config(host: str, key: KeyPair, **extra: Any) -> dict[str, Any]:
    """A config trusting `key` for every image on `host` (listed as insecure: plain HTTP); the images
    are signed without a transparency log, so the policy does not ask for one."""
    registries = {"insecure": [host], **extra.pop("registries", {})}
    return {"registries": registries, "policies": [key_policy("lane", f"{host}/**", key)], **extra}


def push_signed(
    registry: TestRegistry, key: KeyPair, repository: str, count: int, **options: Any
) -> list[str]:
    """`count` images `registry/repository:N`, signed with `key` (`options`: see `push_signed_images`)."""
    assert key.password == FIXTURE_PASSWORD
    return asyncio.run(
        push_signed_images(
            registry.settings(), registry.host, repository, count, key.private, key.password, **options
        )
    )


@pytest.fixture
def serve(webhook_tls: ServerTls, tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], ServedWebhook]]:
    """`serve(config) -> ServedWebhook`: `sigwebhook serve` with the test certificate, on 127.0.0.1."""
    started: list[ServedWebhook] = []

    def start(config: dict[str, Any]) -> ServedWebhook:
        served = ServedWebhook.start(config, webhook_tls, tmp_path / f"serve-{len(started)}")
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="module")
def cold_images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> list[str]:
    """200 distinct images signed with the `ecdsa-p256` key: every fourth with a v3 bundle."""
    return push_signed(plain_registry, key_pairs["ecdsa-p256"], "lane/cold", COLD_IMAGES, bundle_every=4)
