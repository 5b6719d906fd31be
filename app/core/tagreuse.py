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

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_REUSE: ContextVar[bool] = ContextVar("sigwebhook_tag_reuse", default=False)


@contextlib.contextmanager
def reusing_tags(reuse: bool = True) -> Iterator[None]:
    """Within the block (and every task started in it), tag resolutions may be reused when `reuse`."""
    token = _REUSE.set(reuse)
    try:
        yield
    finally:
        _REUSE.reset(token)


def allowed() -> bool:
    """True when the current work may reuse a recent resolution of a tag."""
    return _REUSE.get()
