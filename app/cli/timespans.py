"""`--since` for the audit commands: a span back from now (`90s`, `30m`, `12h`, `7d`, `2w`) or an RFC
3339 time (`2026-12-04T00:00:00Z`; without an offset it means UTC). A bad value is a usage error."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.cli.usage import UsageError

_SPAN = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime, option: str = "--since") -> datetime:
    """The time `text` names, counting a span back from `now`."""
    span = _SPAN.match(text.strip())
    if span is not None:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} takes a span like 30m, 12h or 7d, or a time like 2026-12-04T00:00:00Z, not {text!r}"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
