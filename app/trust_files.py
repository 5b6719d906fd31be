"""Trusted roots from files: the adapter between the file system and `app.core.trust.roots`.

Kept apart from `app.config` on purpose: `verify-bundle` must not pay for importing pydantic and YAML.

The CLI (`--trusted-root FILE`) and the webhook's `trustedRoots:` settings (`app.config.source`) read
roots here, once at start-up: never on the admission path. No file named means the built-in
`public-good` root.
"""

from __future__ import annotations

from pathlib import Path

from app.core.errors import ConfigError
from app.core.trust.builtin import public_good
from app.core.trust.roots import MAX_ROOT_BYTES, TrustedRoot, parse_trusted_root


def load_trusted_root(path: Path | None, name: str | None = None) -> TrustedRoot:
    """The trusted root in `path`, named `name` (default: its file name), or the built-in public-good
    root when no path is given."""
    if path is None:
        return public_good()
    return parse_trusted_root(read_file(path, MAX_ROOT_BYTES, "trusted root"), name or path.name)


def read_file(path: Path, limit: int, what: str) -> bytes:
    """At most `limit` bytes of `path`; `ConfigError` saying why not (missing, directory, too large)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} file {path} not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{what} file {path} is a directory") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror or type(exc).__name__}") from exc
    if len(data) > limit:
        raise ConfigError(f"{what} file {path} is larger than {limit} bytes")
    return data
