"""Reading the config file: YAML → `Settings`, every error a `ConfigError` naming the file and field.

Errors are never chained to the YAML or pydantic exception: both quote the input, which may hold an
inline key or a mistyped password, and would reach the log with a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config.fields import os_reason
from app.config.settings import Settings
from app.core.errors import ConfigError


def load_settings(path: Path | str) -> Settings:
    """Read and validate the YAML config at `path`; relative paths in it are relative to its directory."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {source}: {os_reason(exc)}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            f"{source}: not valid YAML{where}", f"{source}: {getattr(exc, 'problem', '')}"
        ) from None
    return parse_settings(data, base_dir=source.resolve().parent, origin=str(source))


def parse_settings(data: Any, base_dir: Path | None = None, origin: str = "config") -> Settings:
    """Validate already-decoded config data (a mapping)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the config must be a mapping of fields (server, policies, …)")
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [f"{_location(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError(f"{origin}: invalid config:\n  " + "\n  ".join(lines)) from None


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
