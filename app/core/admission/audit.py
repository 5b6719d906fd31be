"""The audit record: one JSON line per review, the record a security team audits.

Fields (documented for the README):

- `time`: when the decision was made, RFC 3339 UTC.
- `uid`: the AdmissionReview request uid (the API server's audit log carries the same uid).
- `webhook`: `validate` (the gate) or `mutate` (digest pinning; it always answers allow, so count
  decisions on `validate` records).
- `namespace`, `kind` (`Pod`, `apps/v1 Deployment`, …), `name` (the object's name, or the
  `generateName` prefix when the API server has not named it yet), `pod` (the same, for pods only;
  null for workloads), `operation` (CREATE, UPDATE, …), `subresource` (e.g. `ephemeralcontainers`),
  `user` (the requesting user), `dry_run`.
- `decision`: `allow` or `deny`, as answered; `summary`: why, in a few words; `message`: the deny
  message sent back; `would_deny`: true when warn-mode policies refused some image (enforced, this
  would have been a deny) and `warnings`: the warning lines sent back.
- `images`: one entry per container image: `container` (`spec.containers[0] (app)`), `image` (as
  written), `reference` (normalised), `digest` (the manifest digest verified), `verdict` (`verified`,
  `denied`, `warned`, `exempt`, `unmatched-allowed`, `unchanged`), `policies` (names), `signatures`
  (format and key fingerprint of each signature that counted, and the key's name: a file path,
  `inline` or a `k8s://` Secret), `reason`, and on `mutate` records `pinned`: the image it was
  rewritten to (null when not pinned).
- `duration_ms`: time from receiving the review to the answer.

A review that could not be read (HTTP 400) gets a record too, with `decision: refused`, the reason
and the `uid` when one could be found (`malformed_record`): probes and broken callers are on record.

Built only from the decision's data: it holds fingerprints, never a key, a password or a token.
Pure: writing the line is the caller's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.core.admission.decision import Decision, ImageOutcome
from app.core.admission.pinning import Pin
from app.core.admission.pinning import summary as pin_summary
from app.core.admission.review import AdmissionRequest, ContainerImage

_UNSAFE_IN_A_LINE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def audit_record(
    request: AdmissionRequest,
    decision: Decision,
    at: datetime,
    duration_ms: float,
    pinned: Sequence[Pin] | None = None,
) -> dict[str, Any]:
    """The audit record of one review as a JSON-ready dict. `pinned` is given for `/mutate` (which
    answers allow whatever the decision: the validating webhook is the gate)."""
    mutate = pinned is not None
    pins = {p.container: p.pinned for p in pinned or ()}
    return {
        "time": _timestamp(at),
        "uid": request.uid,
        "webhook": "mutate" if mutate else "validate",
        "namespace": request.namespace,
        "kind": request.kind,
        "name": request.pod_name,
        "pod": request.pod_name if request.is_pod else None,
        "operation": request.operation.value,
        "subresource": request.subresource,
        "user": request.user,
        "dry_run": request.dry_run,
        "decision": "allow" if decision.allowed or mutate else "deny",
        "summary": decision.summary if not mutate else f"{pin_summary(pinned or ())}; {decision.summary}",
        "message": decision.message if not mutate else None,
        "would_deny": decision.would_deny,
        "warnings": list(decision.warnings),
        "images": [_image(o, pins if mutate else None) for o in decision.images],
        "duration_ms": round(duration_ms, 1),
    }


def malformed_record(
    body: object, reason: str, webhook: str, at: datetime, duration_ms: float
) -> dict[str, Any]:
    """The audit record of a review refused as malformed (HTTP 400): what little can be said of it.
    `body` is the parsed JSON, if it was JSON; its `request.uid` is kept when it is a short string."""
    request = body.get("request") if isinstance(body, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return {
        "time": _timestamp(at),
        "uid": uid if isinstance(uid, str) and len(uid) <= 128 else None,
        "webhook": webhook,
        "decision": "refused",
        "summary": "malformed AdmissionReview (HTTP 400)",
        "message": reason,
        "images": [],
        "duration_ms": round(duration_ms, 1),
    }


def audit_line(record: dict[str, Any]) -> str:
    """One line of JSON, safe to write in UTF-8 and to split on any line break: non-ASCII text is kept
    readable, but lone surrogates (which no encoder writes: the record would be lost), C1 controls and
    the Unicode line and paragraph separators (line breaks for `str.splitlines` and many log
    shippers) are written as `\\uXXXX` escapes. JSON itself escapes the C0 controls."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # These characters can only occur inside JSON strings, where `\uXXXX` is the same character.
    return _UNSAFE_IN_A_LINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _timestamp(at: datetime) -> str:
    """RFC 3339 UTC with milliseconds: `2026-12-04T03:47:35.321Z`."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _image(outcome: ImageOutcome, pins: dict[ContainerImage, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "container": outcome.container.label,
        "image": outcome.container.image,
        "reference": str(outcome.reference) if outcome.reference is not None else None,
        "digest": str(outcome.digest) if outcome.digest is not None else None,
        "verdict": outcome.verdict.value,
        "policies": list(outcome.policies),
        "signatures": [
            {"format": s.format.value, "key_fingerprint": s.key_fingerprint, "key": s.key_name}
            for s in outcome.signatures
        ],
        "reason": outcome.reason,
    }
    if pins is not None:
        entry["pinned"] = pins.get(outcome.container)
    return entry
