"""Digest pinning: the JSON patch (RFC 6902) `/mutate` returns, rewriting each verified image written
with a tag to the digest that was verified (what operators choose and how it is registered: README
"Warn mode, digest pinning, …", docs/install.md "Digest pinning").

A tag can be moved between admission and the kubelet's pull; a digest cannot. The rewrite is
`name@sha256:<digest>` with the name as written: the tag is dropped, because with both present it no
longer says what runs and some tools parse `name:tag@digest` inconsistently (the verified tag stays
in the audit record). An image is pinned only when it verified and every policy matching it wants
it pinned for this kind of object, and only when the pinned form meets the same policies (a
tag-scoped pattern such as `app:1.*` does not match `app@sha256:…`, so /validate would judge the
pinned image by other policies); one already named by digest is left alone. Each replacement
follows a `test` of the old value, so the patch applies only to the object it was computed for, and
a pinned image gets no operation, so a reinvoked `/mutate` changes nothing. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.admission.decision import Decision, Verdict
from app.core.admission.policy import AdmissionPolicy
from app.core.admission.review import AdmissionRequest
from app.core.admission.workloads import ContainerImage
from app.core.digests import Digest
from app.core.references import parse_reference


@dataclass(frozen=True)
class Pin:
    """One image to rewrite: the container or image volume (its `pointer` locates the `image` or
    `image.reference` field) and the new value."""

    container: ContainerImage
    pinned: str


def pins(request: AdmissionRequest, decision: Decision, policy: AdmissionPolicy) -> tuple[Pin, ...]:
    """The images of `request` to pin, from the outcomes of `decision` (in object order)."""
    found: list[Pin] = []
    for outcome in decision.images:
        if outcome.verdict is not Verdict.VERIFIED or outcome.digest is None or outcome.reference is None:
            continue
        if outcome.reference.digest is not None:
            continue  # pinned by its author already
        policies = policy.named(outcome.policies)
        if not policies or not all(p.pinning.pins(request.is_pod) for p in policies):
            continue
        pinned = pinned_image(outcome.container.image, outcome.digest)
        if policy.policies_for(parse_reference(pinned)) != policies:
            continue  # /validate would judge the pinned image by other policies (a tag-scoped one)
        found.append(Pin(outcome.container, pinned))
    return tuple(found)


def pinned_image(written: str, digest: Digest) -> str:
    """`written` without its tag, at `digest`: `registry:5000/team/app:1` → `registry:5000/team/app@sha256:…`.

    A tag is what follows the last `:` after the last `/` (a `:` before it is a registry port)."""
    if "@" in written:
        raise ValueError(f"{written!r} is pinned already")
    name = written
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name = name[:colon]
    return f"{name}@{digest}"


def json_patch(found: Iterable[Pin]) -> list[dict[str, Any]]:
    """RFC 6902 operations: for each pin, `test` the image is still the one verified, then `replace` it."""
    operations: list[dict[str, Any]] = []
    for pin in found:
        pointer = pin.container.pointer
        operations.append({"op": "test", "path": pointer, "value": pin.container.image})
        operations.append({"op": "replace", "path": pointer, "value": pin.pinned})
    return operations


def summary(found: Sequence[Pin]) -> str:
    """A few words for the audit log."""
    return f"pinned {len(found)} image(s) to their verified digest" if found else "nothing to pin"
