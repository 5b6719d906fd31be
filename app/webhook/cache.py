"""`TtlVerdictCache`: the webhook's in-memory `VerdictCache` (bounded, entries expire).

The verifier keys entries by image digest + key fingerprints + options, so a rotated key or a moved
tag never reuses an old verdict (the tag is resolved on every review). It stores only complete
verdicts (every signature source was read). A verdict where some signature verified is kept
`ttl_seconds`: a signature removed, or a threshold met by a signature added later, is seen within that
time. A complete deny (no signature verified) is kept only `negative_ttl_seconds` (a few seconds; 0
keeps none): a flood of reviews of one unsigned image costs one verification every few seconds, and
a signature pushed right after a deny counts at the latest that long after it. A kept verdict that is
still asked for in its last `REFRESH_SHARE` of life is due for a refresh (`refresh_due`): the verifier
verifies it again in the background, so a popular image never goes cold all at once.
"""

from __future__ import annotations

from collections.abc import Hashable

from app.core.kits import ExpiringCache
from app.core.ports import Clock
from app.core.verification.verdicts import ImageVerdict

REFRESH_SHARE = 0.25  # a popular verdict is verified again in the last quarter of its life
MAX_REFRESH_SECONDS = 30.0  # … but not earlier than this before it expires


class TtlVerdictCache:
    """Least-recently-used verdicts, at most `max_entries`; kept `ttl_seconds` when some signature
    verified, `negative_ttl_seconds` when none did."""

    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Clock, negative_ttl_seconds: float = 0.0
    ) -> None:
        self._ttl, self._negative_ttl = ttl_seconds, negative_ttl_seconds
        self._refresh = min(ttl_seconds * REFRESH_SHARE, MAX_REFRESH_SECONDS)
        self._entries: ExpiringCache[Hashable, ImageVerdict] = ExpiringCache(max_entries, clock)

    def get(self, key: Hashable) -> object | None:
        return self._entries.get(key)

    def put(self, key: Hashable, value: object) -> None:
        if isinstance(value, ImageVerdict):
            self._entries.put(key, value, self._ttl if value.ok else self._negative_ttl)

    def refresh_due(self, key: Hashable) -> bool:
        found = self._entries.lookup(key)
        return found is not None and found[0].ok and found[1] <= self._refresh

    def __len__(self) -> int:
        return len(self._entries)
