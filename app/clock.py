"""`SystemClock`: the core's `Clock` port on the operating system's clocks.

Every part that needs the time is handed a `Clock` (by `app.compose`, or this default); tests hand
in one manual clock instead, so no test waits for time to pass and no part reads the OS clock
behind the port's back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """Wall time (timezone-aware UTC) and monotonic seconds from the operating system."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()  # stateless: one instance serves every default
