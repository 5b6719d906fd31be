"""When the answer the current work serves is due, carried with the work itself.

A review sets the time its answer is due (`due_at`), on the `Clock`'s monotonic scale; every task it
starts inherits it (a context variable: asyncio copies the context into each new task). A part far
below can then tell "wait for a free slot" from "waiting is useless, say why now": the registry
adapter gives up waiting for a request slot just before the answer is due and names its own limit
as the reason, instead of letting the review time out as if the registry had not answered. Work
with no due time (the CLI) waits as long as it takes.
"""

from __future__ import annotations

from contextvars import ContextVar

_DUE: ContextVar[float | None] = ContextVar("sigwebhook_due", default=None)


class due_at:
    """Within the block (and in every task started in it), the answer is due at `moment`. A class,
    not a generator: it is entered for every review."""

    def __init__(self, moment: float) -> None:
        self._moment = moment

    def __enter__(self) -> None:
        self._token = _DUE.set(self._moment)

    def __exit__(self, *_: object) -> None:
        _DUE.reset(self._token)


def due() -> float | None:
    """When the answer the current work serves is due, or None when nothing waits for it by a time."""
    return _DUE.get()
