"""Command-line options shared by `verify` and `sign`: registry access and logging.

The composition root (`app.compose`) turns them into the registry client's `RegistrySettings`; a
bad value is a usage error (exit 2) naming the option, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.usage import UsageError
from app.core.errors import ConfigError
from app.core.printable import printable

if TYPE_CHECKING:  # the registry stack (httpx) is imported by the commands that reach a registry
    from app.registry.settings import RegistrySettings

DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    """The registry access options (`--insecure-registry`, `--ca-file`, `--registry-config`, `--timeout`)."""
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
        help="Docker config JSON with registry credentials (default: ~/.docker/config.json when present)",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"time allowed for each registry request (default {DEFAULT_TIMEOUT:g})",
    )


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    """`-v` and `--debug`, accepted before or after the sub-command (SUPPRESS keeps a sub-command's
    parser from resetting a flag given before it; `configure_logging` reads them with defaults)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what is being done (registry requests) to stderr",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log everything, and show the traceback of an internal error",
    )


def configure_logging(args: argparse.Namespace) -> None:
    """Log to stderr at WARNING, INFO with `-v`, DEBUG with `--debug`; fills in the flags' defaults."""
    args.debug = getattr(args, "debug", False)
    args.verbose = getattr(args, "verbose", False)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


class OneLineFormatter(logging.Formatter):
    """Each log message on one line: review uids, names and images in it are the sender's text, and a
    newline or terminal escape there could forge a log line (`app.core.printable`). A traceback,
    appended after the message, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def registry_settings(args: argparse.Namespace) -> RegistrySettings:
    """The registry settings the options ask for; `UsageError` naming the option otherwise."""
    if not (0 < args.timeout <= MAX_TIMEOUT):
        raise UsageError(
            f"--timeout must be more than 0 and at most {MAX_TIMEOUT} seconds, not {args.timeout:g}"
        )
    from app import compose

    try:
        return compose.registry_settings_from_cli(
            insecure_registries=args.insecure_registry,
            ca_file_options=args.ca_file,
            registry_config=Path(args.registry_config) if args.registry_config else None,
            timeout=float(args.timeout),
        )
    except ConfigError as exc:
        raise UsageError(exc.reason, exc.detail) from exc
