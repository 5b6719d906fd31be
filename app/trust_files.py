"""Files read outside the YAML config: Sigstore trusted roots, and the bounded reader every key,
bundle, artifact and TUF root file goes through (a size limit and a reason when it cannot be read).

Kept apart from `app.config` on purpose: the CLI's `verify`, `verify-bundle` and `sign` must not pay for
importing pydantic and YAML. Trusted roots are read for the CLI (`--trusted-root FILE`) and for the
webhook's `trustedRoots:` settings (`app.config.source`) once at start-up, never on the admission path;
no file named means the built-in `public-good` root.
"""

from __future__ import annotations

from pathlib import Path

from app.core.errors import ConfigError, SigwebhookError
from app.core.trust.builtin import public_good
from app.core.trust.roots import MAX_ROOT_BYTES, TrustedRoot, parse_trusted_root


def load_trusted_root(path: Path | None, name: str | None = None) -> TrustedRoot:
    """The trusted root in `path`, named `name` (default: its file name), or the built-in public-good
    root when no path is given."""
    if path is None:
        return public_good()
    return parse_trusted_root(read_file(path, MAX_ROOT_BYTES, "trusted root"), name or path.name)


def read_file(path: Path, limit: int, what: str, error: type[SigwebhookError] = ConfigError) -> bytes:
    """At most `limit` bytes of the `what` file at `path`; `error` saying why not (missing, a directory,
    unreadable, too large), never quoting the file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise error(f"{what} file {path} not found") from exc
    except IsADirectoryError as exc:
        raise error(f"{what} file {path} is a directory") from exc
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror or type(exc).__name__}") from exc
    if len(data) > limit:
        raise error(f"{what} file {path} is larger than {limit} bytes")
    return data
