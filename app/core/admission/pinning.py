"""Digest pinning: the JSON patch (RFC 6902) that `/mutate` returns, rewriting verified images to
the digest that was verified.

A tag can be moved between admission and the kubelet's pull; a digest cannot. Each image that
verified (`Verdict.VERIFIED`) and was written with a tag only is replaced by `name@sha256:<digest>`:

- **The tag is dropped** (`name@digest`, not `name:tag@digest`). Kubernetes and containerd accept
  both and pull by digest, but with both present the tag is decoration that no longer says what
  runs, and some tools (older Docker/dockershim, image-list scrapers) parse `name:tag@digest`
  inconsistently. The tag that was verified stays in the audit log (`reference` → `digest`).
- **The name is kept as written** (`nginx` stays `nginx`, not `docker.io/library/nginx`), so the
  patch changes nothing but the version part.
- **Already pinned images are left alone** (a digest in the reference is what was verified).
- **Only verified images are pinned**: exempt, unmatched-allowed, warned, denied and unchanged ones
  never are. A policy's `pinning` says for which objects; an image is pinned only when every policy
  matching it wants it pinned for this object (pods, or workload templates too).

Each replacement is preceded by a `test` operation on the old value, so the patch applies only to
the object it was computed for. The mutating endpoint never denies: the validating webhook, which
the API server calls after every mutating one, is the gate (and verifies the pinned digest, cheaply:
the verdict cache is keyed by digest). Pure: no I/O.

Registering `/mutate` (for the README; `examples/kubernetes/webhook-configurations.yaml`): a
MutatingWebhookConfiguration with the validating webhook's namespaceSelector, `sideEffects: None`,
`matchPolicy: Equivalent`, `failurePolicy: Fail` (it never denies, so this only matters when the
server is unreachable, and then `/validate` fails too), rules for `pods` and
`pods/ephemeralcontainers` (add the workload resources only if some policy has `pinDigest: all`),
and `reinvocationPolicy: IfNeeded`. The API server calls mutating webhooks one after another
(configurations sorted by name), then the validating ones; with `IfNeeded`, when a mutating webhook
that runs later changes the object (a registry-mirror rewriter, say), `/mutate` is called once more
and pins the rewritten images. Its patch is idempotent: a pinned image gets no operation. Keep
`/validate` registered: pinning never replaces verification.
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


@dataclass(frozen=True)
class Pin:
    """One image to rewrite: the container (its `pointer` locates the `image` field) and the new value."""

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
        found.append(Pin(outcome.container, pinned_image(outcome.container.image, outcome.digest)))
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
