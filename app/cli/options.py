"""Command-line options shared by `verify` and `sign`: registry access and logging.

Parsed into a frozen `RegistryOptions`; the composition root (`app.compose`) turns that into the
registry client's settings. Option values are checked here so a mistake is a usage error (exit 2)
naming the option, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.cli.usage import UsageError

DEFAULT_TIMEOUT = 30.0
DOCKER_CONFIG_ENV = "DOCKER_CONFIG"


@dataclass(frozen=True)
class RegistryOptions:
    """How the CLI reaches registries (the CLI's view; `app.compose` maps it to `RegistrySettings`)."""

    insecure: tuple[str, ...] = ()  # HOST[:PORT] reached over plain HTTP
    ca_file: Path | None = None  # extra CA bundle trusted for every registry
    ca_files: dict[str, Path] = field(default_factory=dict)  # HOST[:PORT] -> CA bundle
    config_file: Path | None = None  # Docker config JSON with credentials
    timeout: float = DEFAULT_TIMEOUT


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry access")
    group.add_argument(
        "--insecure-registry",
        metavar="HOST[:PORT]",
        action="append",
        default=[],
        help="talk plain HTTP to this registry (repeatable); for local test registries only",
    )
    group.add_argument(
        "--ca-file",
        metavar="[HOST=]FILE",
        action="append",
        default=[],
        help="trust the CA certificates in FILE (PEM) for every registry, or only for HOST with HOST=FILE "
        "(repeatable)",
    )
    group.add_argument(
        "--registry-config",
        metavar="FILE",
        help="Docker config JSON with registry credentials (default: $DOCKER_CONFIG/config.json or "
        "~/.docker/config.json when present)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"time allowed for each registry request (default {DEFAULT_TIMEOUT:g})",
    )


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what is being done (registry requests) to stderr"
    )
    parser.add_argument(
        "--debug", action="store_true", help="log everything, and show the traceback of an internal error"
    )


def configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        # httpx logs every request at INFO; that is -v territory only with --debug.
        logging.getLogger("httpx").setLevel(logging.WARNING)


def registry_options(args: argparse.Namespace, environ: dict[str, str] | None = None) -> RegistryOptions:
    """Check and gather the registry options; `UsageError` naming the option otherwise."""
    env = dict(os.environ) if environ is None else environ
    if not (0 < args.timeout <= 3600):
        raise UsageError(f"--timeout must be between 0 and 3600 seconds, not {args.timeout:g}")
    insecure = tuple(_host(value, "--insecure-registry") for value in args.insecure_registry)
    default_ca: Path | None = None
    per_host: dict[str, Path] = {}
    for value in args.ca_file:
        host, sep, path_text = value.rpartition("=")
        path = _existing_file(Path(path_text), "--ca-file")
        if sep:
            per_host[_host(host, "--ca-file")] = path
        elif default_ca is not None:
            raise UsageError("--ca-file without HOST= may be given only once (use HOST=FILE for more)")
        else:
            default_ca = path
    if args.registry_config:
        config: Path | None = _existing_file(Path(args.registry_config), "--registry-config")
    else:
        config = _default_docker_config(env)
    return RegistryOptions(insecure, default_ca, per_host, config, float(args.timeout))


def _default_docker_config(env: dict[str, str]) -> Path | None:
    base = Path(env[DOCKER_CONFIG_ENV]) if env.get(DOCKER_CONFIG_ENV) else Path.home() / ".docker"
    candidate = base / "config.json"
    return candidate if candidate.is_file() else None


def _host(value: str, option: str) -> str:
    host = value.strip().lower()
    if host.startswith(("http://", "https://")):
        host = host.split("://", 1)[1]
    host = host.rstrip("/")
    if not host or "/" in host or any(ch.isspace() for ch in host):
        raise UsageError(f"{option}: {value!r} is not HOST or HOST:PORT")
    return host


def _existing_file(path: Path, option: str) -> Path:
    if not path.is_file():
        raise UsageError(f"{option}: {path} is not a readable file")
    return path
