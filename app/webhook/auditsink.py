"""`AuditWriter`: the webhook's audit lines on stdout, written together at the end of each turn of the
event loop rather than one system call each; `fast_json`, the encoder the webhook makes them with.

Under load, many reviews are answered in one turn of the event loop; each line used to be its own
write and flush (a tenth of a cached review's cost). Lines are kept in order and flushed as one write
when the loop has run the callbacks that were ready, so none waits longer than that turn: no line
waits for a timer, a size or a later review. `flush()` at shutdown (the app's lifespan) and at
interpreter exit writes whatever is left, so nothing is lost when the process stops; only a crash of
the process within that same turn (SIGKILL) loses the lines of that turn. Outside an event loop each
line is written at once.

`fast_json` is orjson where it can (a tenth of the standard library's time for the same JSON: a line
is encoded per review), the standard library for what orjson refuses (a lone surrogate, an integer
beyond 64 bits).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
from typing import Any, TextIO

import orjson

from app.core.admission.audit import compact_json

log = logging.getLogger("sigwebhook.webhook")


class AuditWriter:
    """A callable audit sink: `writer(line)` queues one line; `flush()` writes the queue."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._scheduled = False
        atexit.register(self.flush)

    def __call__(self, line: str) -> None:
        self._lines.append(line)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in a loop: nothing would flush later
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write every queued line, in order, and flush the stream."""
        self._scheduled = False
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self._stream or sys.stdout  # looked up late: tests and the CLI may swap stdout
        try:
            stream.write("\n".join(lines) + "\n")
            stream.flush()
        except Exception:  # an audit sink failure must not turn into an admission answer
            log.exception("could not write %d audit record(s)", len(lines))


def fast_json(record: dict[str, Any]) -> str:
    """Compact JSON text of `record`, non-ASCII kept (what `audit.compact_json` writes)."""
    try:
        return orjson.dumps(record).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return compact_json(record)
