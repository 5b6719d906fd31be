"""`TtlVerdictCache`: the webhook's in-memory `VerdictCache` (bounded, entries expire).

The verifier keys entries by image digest + key fingerprints + options, so a rotated key or a moved
tag never reuses an old verdict (the tag is resolved on every review). Only verdicts where some
signature verified are kept: a signature added after a deny counts at the very next review, and an
unsigned image is never remembered as unsigned. Entries expire after `ttl_seconds`, so a threshold
met by a signature added later is seen within that time. Safe for the one event loop that uses it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from app.core.verification.verdicts import ImageVerdict


class TtlVerdictCache:
    """Least-recently-used verdicts, at most `max_entries`, each kept `ttl_seconds`."""

    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl, self._max, self._clock = ttl_seconds, max_entries, clock
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()

    def get(self, key: Hashable) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: object) -> None:
        if not (isinstance(value, ImageVerdict) and value.ok):
            return
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
