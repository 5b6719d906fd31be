"""The audit record: one JSON line per review, the record a security team audits.

Fields (documented for the README):

- `time`: when the decision was made, RFC 3339 UTC.
- `uid`: the AdmissionReview request uid (the API server's audit log carries the same uid).
- `namespace`, `pod` (the name, or the `generateName` prefix when the API server has not named it yet),
  `operation` (CREATE, UPDATE, …), `subresource` (e.g. `ephemeralcontainers`), `user` (the requesting
  user), `dry_run`.
- `decision`: `allow` or `deny`; `summary`: why, in a few words; `message`: the deny message sent back.
- `images`: one entry per container image: `container` (`spec.containers[0] (app)`), `image` (as
  written), `reference` (normalised), `digest` (the manifest digest verified), `verdict` (`verified`,
  `denied`, `exempt`, `unmatched-allowed`, `unchanged`), `policies` (names), `signatures` (format and
  key fingerprint of each signature that counted, and the key's name: a file path, `inline` or a
  `k8s://` Secret), `reason`.
- `duration_ms`: time from receiving the review to the answer.

Built only from the decision's data: it holds fingerprints, never a key, a password or a token.
Pure: writing the line is the caller's job.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.core.admission import AdmissionRequest
from app.core.decision import Decision, ImageOutcome


def audit_record(
    request: AdmissionRequest, decision: Decision, at: datetime, duration_ms: float
) -> dict[str, Any]:
    """The audit record of one review as a JSON-ready dict."""
    return {
        "time": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "uid": request.uid,
        "namespace": request.namespace,
        "pod": request.pod_name,
        "operation": request.operation.value,
        "subresource": request.subresource,
        "user": request.user,
        "dry_run": request.dry_run,
        "decision": "allow" if decision.allowed else "deny",
        "summary": decision.summary,
        "message": decision.message,
        "images": [_image(o) for o in decision.images],
        "duration_ms": round(duration_ms, 1),
    }


def audit_line(record: dict[str, Any]) -> str:
    """One line of JSON (no newline inside; non-ASCII kept readable)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _image(outcome: ImageOutcome) -> dict[str, Any]:
    return {
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
