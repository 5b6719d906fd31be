"""Whether the current work may take a tag's digest from a recent resolution instead of asking again.

A tag names whatever the registry says now; asking costs a round trip per image per review. Reusing
what it said a few seconds ago is safe only where the pod will run the digest that was verified: on
`/mutate`, which pins each verified image to that digest (a tag moved meanwhile only delays the new
digest by that long; the validating webhook then judges the pinned digest, and an image left unpinned
reaches it by tag and is resolved there afresh). `/validate` reuses only when the operator turned it
on (`registries.tagReuseOnValidate`): without pinning the kubelet pulls the tag itself, so a tag moved
to another manifest within that time can run what was never verified. A review says so for its work
(`reusing_tags`), the registry adapter reads it (`allowed`); every task started meanwhile inherits it
(a context variable, as `app.core.deadlines`).
"""

from __future__ import annotations

from contextvars import ContextVar

_REUSE: ContextVar[bool] = ContextVar("sigwebhook_tag_reuse", default=False)


class reusing_tags:
    """Within the block (and every task started in it), tag resolutions may be reused when `reuse`.
    A class, not a generator: it is entered for every review."""

    def __init__(self, reuse: bool = True) -> None:
        self._reuse = reuse

    def __enter__(self) -> None:
        self._token = _REUSE.set(self._reuse)

    def __exit__(self, *_: object) -> None:
        _REUSE.reset(self._token)


def allowed() -> bool:
    """True when the current work may reuse a recent resolution of a tag."""
    return _REUSE.get()
