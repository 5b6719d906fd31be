"""Registry clients as the composition root builds them: settings from the CLI's options or the config's
`registries`, and clients that keep httpcore's response headers out of the logs."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import ConfigError
from app.core.kits import Overlay
from app.registry import OciRegistry
from app.registry.credentials import Credential
from app.registry.redaction import keep_response_headers_out_of_logs
from app.registry.settings import RegistrySettings, Timeouts

if TYPE_CHECKING:
    from app.config import Settings

CONNECT_TIMEOUT_CAP = 5.0  # a registry that does not accept a connection in 5 s is down


def timeouts_for(seconds: float) -> Timeouts:
    """`seconds` to read and in all, at most `CONNECT_TIMEOUT_CAP` to connect."""
    return Timeouts(connect=min(CONNECT_TIMEOUT_CAP, seconds), read=seconds, total=seconds)


def registry_settings_from_cli(
    *,
    insecure_registries: Iterable[str] = (),
    ca_file_options: Iterable[str] = (),
    registry_config: Path | None = None,
    timeout: float = 30.0,
) -> RegistrySettings:
    """Registry settings from the CLI's options (`--insecure-registry`, `--ca-file [HOST=]FILE`,
    `--registry-config`, `--timeout`); raises `ConfigError` naming the bad value."""
    return RegistrySettings.from_cli(
        insecure_registries=insecure_registries,
        ca_file_options=ca_file_options,
        registry_config=registry_config,
        timeouts=timeouts_for(timeout),
    )


def build_registry(settings: RegistrySettings) -> OciRegistry:
    """A registry client (not yet connected); close it with `aclose()` or use `open_registry`."""
    keep_response_headers_out_of_logs()
    return OciRegistry(settings)


@contextlib.asynccontextmanager
async def open_registry(settings: RegistrySettings) -> AsyncIterator[OciRegistry]:
    """A registry client for the duration of an `async with` block, closed afterwards."""
    registry = build_registry(settings)
    try:
        yield registry
    finally:
        await registry.aclose()


def webhook_registry_settings(
    settings: Settings, live_credentials: Callable[[], Mapping[str, Credential]] | None = None
) -> RegistrySettings:
    """The config's `registries` as `RegistrySettings`. With a pull Secret, `live_credentials` is read
    at each request, over the `dockerConfigFile` ones (a rotated Secret applies without a restart)."""
    config = settings.registries
    try:
        built = RegistrySettings.build(
            insecure_registries=config.insecure,
            ca_files=dict(config.ca_files),
            default_ca_file=config.default_ca_file,
            docker_config=config.docker_config_file,
            timeouts=timeouts_for(config.timeout_seconds),
        )
    except ConfigError as exc:
        raise ConfigError(f"registries: {exc.reason}", exc.detail) from exc
    built = dataclasses.replace(built, tag_reuse_seconds=config.tag_reuse_seconds)
    if live_credentials is None:
        return built
    return dataclasses.replace(built, credentials=Overlay(live_credentials, built.credentials))
