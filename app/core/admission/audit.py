"""The audit record: one JSON line per review, the record a security team audits (its fields:
README "The audit log").

`audit_record` is built only from the decision's data, so it holds key fingerprints, never a key,
a password or a token; `malformed_record` puts a review that could not be read (HTTP 400) on record
too. Every line carries `AUDIT_VERSION`, and the JSON Schema `app/core/audits/audit-record.schema.json`
is the contract the webhook's tests hold each line to. What the sender wrote is bounded
(`app.core.printable.clipped`: names at Kubernetes' limits, images at the longest reference, the
review's fields when it is parsed), so no review makes a huge line. Pure: writing the line is the
caller's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from app.core.admission.decision import Decision, ImageOutcome
from app.core.admission.pinning import Pin
from app.core.admission.pinning import summary as pin_summary
from app.core.admission.review import AdmissionRequest
from app.core.verification.verdicts import VerifiedSignature

AUDIT_VERSION = 1
_UNSAFE_IN_A_LINE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class ImageEntries:
    """The `images` entries of audit records, remembered per image outcome: a cached review's outcomes
    are the objects judged before (`app.core.admission.planner`), and their entries need not be built
    again. Held by identity, at most `max_entries`; an entry is never changed once made."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._made: dict[int, tuple[ImageOutcome, dict[str, Any]]] = {}

    def __call__(self, outcome: ImageOutcome) -> dict[str, Any]:
        found = self._made.get(id(outcome))
        if found is not None and found[0] is outcome:
            return found[1]
        entry = _image(outcome)
        if len(self._made) >= self._max:
            self._made = {}
        self._made[id(outcome)] = (outcome, entry)
        return entry


def audit_record(
    request: AdmissionRequest,
    decision: Decision,
    at: datetime,
    duration_ms: float,
    pinned: Sequence[Pin] | None = None,
    entries: Callable[[ImageOutcome], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The audit record of one review as a JSON-ready dict. `pinned` is given for `/mutate` (which
    answers allow whatever the decision: the validating webhook is the gate); `entries` makes the
    `images` entries (an `ImageEntries`; default: made anew)."""
    mutate = pinned is not None
    pins = {p.container: p.pinned for p in pinned or ()}
    entry = entries or _image
    return {
        "version": AUDIT_VERSION,
        "time": rfc3339_ms(at),
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
        "images": [
            {**entry(o), "pinned": pins.get(o.container)} if mutate else entry(o) for o in decision.images
        ],
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
        "version": AUDIT_VERSION,
        "time": rfc3339_ms(at),
        "uid": uid if isinstance(uid, str) and len(uid) <= 128 else None,
        "webhook": webhook,
        "decision": "refused",
        "summary": "malformed AdmissionReview (HTTP 400)",
        "message": reason,
        "images": [],
        "duration_ms": round(duration_ms, 1),
    }


def audit_line(record: dict[str, Any], dumps: Callable[[dict[str, Any]], str] | None = None) -> str:
    """One line of JSON, safe to write in UTF-8 and to split on any line break: non-ASCII text is kept
    readable, but lone surrogates (which no encoder writes: the record would be lost), C1 controls and
    the Unicode line and paragraph separators (line breaks for `str.splitlines` and many log
    shippers) are written as `\\uXXXX` escapes. JSON itself escapes the C0 controls. `dumps` is the
    encoder (compact JSON text, non-ASCII kept; default: the standard library's)."""
    text = (dumps or compact_json)(record)
    if text.isascii() and "\x7f" not in text:  # the usual line: nothing to escape, no scan
        return text
    # These characters can only occur inside JSON strings, where `\uXXXX` is the same character.
    return _UNSAFE_IN_A_LINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def compact_json(record: dict[str, Any]) -> str:
    """The standard library's compact JSON text with non-ASCII characters kept."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def rfc3339_ms(at: datetime) -> str:
    """RFC 3339 UTC with milliseconds: `2026-12-04T03:47:35.321Z`."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _image(outcome: ImageOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "container": outcome.container.label,
        "image": outcome.container.shown,
        "reference": str(outcome.reference) if outcome.reference is not None else None,
        "digest": str(outcome.digest) if outcome.digest is not None else None,
        "verdict": outcome.verdict.value,
        "policies": list(outcome.policies),
        "signatures": [signature_record(s) for s in outcome.signatures],
        "reason": outcome.reason,
    }
    return entry


def signature_record(signature: VerifiedSignature) -> dict[str, Any]:
    identity = signature.identity
    return {
        "format": signature.format.value,
        "key_fingerprint": signature.key_fingerprint or "",
        "key": signature.signer_label,
        "identity": identity.subject if identity is not None else None,
        "issuer": identity.issuer if identity is not None else None,
        "tlog": [
            {
                "log_id": entry.log_id,
                "log_index": entry.log_index,
                "integrated_time": rfc3339_ms(entry.integrated_time) if entry.integrated_time else None,
            }
            for entry in signature.log_entries
        ],
        "timestamps": [rfc3339_ms(t.moment) for t in signature.times if t.from_timestamp],
    }
