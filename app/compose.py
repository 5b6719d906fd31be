"""The composition root: the one place that builds sigwebhook's objects from settings.

settings → `RegistrySettings` → `OciRegistry` (the `Registry`/`RegistryWriter` adapter) → `Verifier`.
The CLI and the webhook both build through here, so they reach registries and verify identically.
Nothing is built at import time; every function builds fresh objects when called.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from app.core.ports import VerdictCache
from app.core.verify import Verifier, VerifyOptions
from app.registry import OciRegistry
from app.registry.settings import RegistrySettings, Timeouts

CONNECT_TIMEOUT_CAP = 5.0  # a registry that does not accept a connection in 5 s is down


def registry_settings_from_cli(
    *,
    insecure_registries: Iterable[str] = (),
    ca_file_options: Iterable[str] = (),
    registry_config: Path | None = None,
    timeout: float = 30.0,
) -> RegistrySettings:
    """Registry settings from the CLI's options (`--insecure-registry`, `--ca-file [HOST=]FILE`,
    `--registry-config`, `--timeout`); raises `ConfigError` naming the bad value."""
    timeouts = Timeouts(connect=min(CONNECT_TIMEOUT_CAP, timeout), read=timeout, total=timeout)
    return RegistrySettings.from_cli(
        insecure_registries=insecure_registries,
        ca_file_options=ca_file_options,
        registry_config=registry_config,
        timeouts=timeouts,
    )


def build_registry(settings: RegistrySettings) -> OciRegistry:
    """A registry client (not yet connected); close it with `aclose()` or use `open_registry`."""
    return OciRegistry(settings)


@contextlib.asynccontextmanager
async def open_registry(settings: RegistrySettings) -> AsyncIterator[OciRegistry]:
    """A registry client for the duration of an `async with` block, closed afterwards."""
    registry = build_registry(settings)
    try:
        yield registry
    finally:
        await registry.aclose()


def build_verifier(
    registry: OciRegistry, cache: VerdictCache | None = None, options: VerifyOptions | None = None
) -> Verifier:
    """The verifier over `registry`, with an optional verdict cache."""
    return Verifier(registry, cache=cache, options=options)
