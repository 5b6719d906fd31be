"""httpcore's DEBUG traces log response headers as received (a registry may echo a credential in one):
every registry client the composition root builds turns them off, `audit scan`'s included."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.compose.registries import build_registry, webhook_registry_settings
from app.compose.scan import build_scan
from app.config import parse_settings

EXAMPLE_KEY = Path(__file__).resolve().parents[2] / "examples" / "local" / "cosign.pub"


def settings() -> Any:
    policy = {"name": "p", "images": ["registry.example.com/**"], "keys": [{"file": str(EXAMPLE_KEY)}]}
    return parse_settings(
        {"server": {"tls": {"certFile": "/tls/tls.crt", "keyFile": "/tls/tls.key"}}, "policies": [policy]}
    )


def registry_client() -> None:
    asyncio.run(build_registry(webhook_registry_settings(settings())).aclose())


def scan_parts() -> None:
    no_cluster_needed: Any = object()  # no key or pull Secret configured: the API server is not read
    asyncio.run(build_scan(settings(), None, no_cluster_needed).aclose())


@pytest.fixture
def httpcore_at_debug() -> Iterator[logging.Logger]:
    logger = logging.getLogger("httpcore")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(before)


@pytest.mark.parametrize(
    "build", [registry_client, scan_parts], ids=["a registry client", "audit scan's parts"]
)
def test_building_a_registry_client_turns_httpcore_debug_traces_off(
    build: Callable[[], None], httpcore_at_debug: logging.Logger
) -> None:
    build()
    assert not httpcore_at_debug.isEnabledFor(logging.DEBUG)
