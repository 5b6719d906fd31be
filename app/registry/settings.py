"""How sigwebhook talks to registries: plain-HTTP exceptions, CA bundles, credentials and timeouts.

`RegistrySettings` is frozen and validated when built; invalid values raise `ConfigError` naming the
option. The CLI (`--insecure-registry`, `--ca-file`, `--registry-config`) and the webhook config both build
it through `RegistrySettings.build`. Nothing here opens a connection.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from app.core.errors import ConfigError
from app.core.references import DOCKER_HUB
from app.registry.credentials import Credential, load_docker_config, normalize_host

DEFAULT_DOCKER_CONFIG = Path("~/.docker/config.json")
# Docker Hub's registry API lives on another host than its name (docker/cli `registry.IndexServer`).
_API_HOSTS = MappingProxyType({DOCKER_HUB: "registry-1.docker.io"})


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed to connect, to wait for each read, and for one whole HTTP exchange."""

    connect: float = 5.0
    read: float = 10.0
    total: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"registry timeout '{name}' must be a positive number of seconds, got {value!r}"
                )


@dataclass(frozen=True)
class RegistrySettings:
    """Validated registry settings. Hosts are normalised (`index.docker.io` → `docker.io`)."""

    insecure: frozenset[str] = frozenset()
    ca_files: Mapping[str, Path] = field(default_factory=lambda: MappingProxyType({}))
    default_ca_file: Path | None = None
    credentials: Mapping[str, Credential] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    timeouts: Timeouts = Timeouts()
    max_redirects: int = 5
    # How long a tag's resolution may be reused, where the work allows it (`app.core.tagreuse`); 0: never.
    tag_reuse_seconds: float = 0.0

    @classmethod
    def build(
        cls,
        *,
        insecure_registries: Iterable[str] = (),
        ca_files: Mapping[str, Path | str] | None = None,
        default_ca_file: Path | str | None = None,
        docker_config: Path | str | Mapping[str, object] | None = None,
        credentials: Mapping[str, Credential] | None = None,
        timeouts: Timeouts | None = None,
    ) -> RegistrySettings:
        """Settings from plain values. `docker_config` is a path to, or the parsed JSON of, a Docker config;
        `credentials` (by host) are merged over it. CA files must exist."""
        insecure = frozenset(normalize_host(h, what="insecure registry") for h in insecure_registries)
        cas = {
            normalize_host(host, what="CA file registry"): _ca_bundle(path, f"CA file for {host}")
            for host, path in (ca_files or {}).items()
        }
        default_ca = _ca_bundle(default_ca_file, "default CA file") if default_ca_file is not None else None
        creds: dict[str, Credential] = (
            dict(load_docker_config(docker_config)) if docker_config is not None else {}
        )
        creds.update(
            {normalize_host(h, what="credentials registry"): c for h, c in (credentials or {}).items()}
        )
        return cls(
            insecure=insecure,
            ca_files=MappingProxyType(cas),
            default_ca_file=default_ca,
            credentials=MappingProxyType(creds),
            timeouts=timeouts or Timeouts(),
        )

    @classmethod
    def from_cli(
        cls,
        *,
        insecure_registries: Iterable[str] = (),
        ca_file_options: Iterable[str] = (),
        registry_config: Path | str | None = None,
        timeouts: Timeouts | None = None,
    ) -> RegistrySettings:
        """Settings from CLI options. `--ca-file` is `PATH` (the default CA) or `HOST=PATH`; without
        `--registry-config`, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` is read when present."""
        per_host: dict[str, Path | str] = {}
        default_ca: str | None = None
        for option in ca_file_options:
            host, sep, path = option.partition("=")
            if sep:
                per_host[host] = path
            elif default_ca is not None:
                raise ConfigError("--ca-file without HOST= may be given once (the default CA bundle)")
            else:
                default_ca = option
        config: Path | str | None = registry_config
        default = default_docker_config()
        if config is None and default.is_file():
            config = default
        return cls.build(
            insecure_registries=insecure_registries,
            ca_files=per_host,
            default_ca_file=default_ca,
            docker_config=config,
            timeouts=timeouts,
        )

    def is_insecure(self, registry: str) -> bool:
        """True when `registry` was listed to be reached over plain HTTP."""
        return host_key(registry) in self.insecure

    def base_url(self, registry: str) -> str:
        """`https://host[:port]` (or `http://` for listed insecure registries); Docker Hub → its API host."""
        scheme = "http" if self.is_insecure(registry) else "https"
        return f"{scheme}://{_API_HOSTS.get(host_key(registry), registry)}"

    def ca_file_for(self, host: str) -> Path | None:
        """The CA bundle trusted for `host` in addition to the public roots (per-host, else the default)."""
        return self.ca_files.get(host_key(host), self.default_ca_file)

    def credential_for(self, registry: str) -> Credential | None:
        """The configured credential of `registry`, looked up by its normalised host (as configured)."""
        return self.credentials.get(host_key(registry))


def host_key(host: str) -> str:
    """`host` as the settings are keyed: lower-case, Docker Hub's aliases folded into `docker.io`, so an
    image written `REG.example:5000/app` or `registry-1.docker.io/x` finds what was configured for it."""
    try:
        return normalize_host(host, what="registry")
    except ConfigError:
        return host  # not a host[:port]: matches nothing configured


def default_docker_config() -> Path:
    """Where Docker (and cosign, through go-containerregistry) read credentials by default:
    `$DOCKER_CONFIG/config.json` when the variable is set, else `~/.docker/config.json`."""
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory).expanduser() / "config.json" if directory else DEFAULT_DOCKER_CONFIG.expanduser()


def _existing_file(path: Path | str, what: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise ConfigError(f"{what}: {resolved} does not exist or is not a file")
    return resolved


def _ca_bundle(path: Path | str, what: str) -> Path:
    """An existing file that holds PEM certificates: checked when the settings are built, so a garbage
    bundle stops start-up (or the CLI) instead of failing every later request to that registry."""
    resolved = _existing_file(path, what)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(resolved))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{what}: {resolved} is not a readable PEM certificate bundle") from exc
    return resolved
