"""The scan's report: findings, one row per distinct image, one entry per target, as JSON-ready data.

Findings are what a security team acts on: `denied` (admission would deny this object now),
`would-deny` (only warn-mode policies refuse it: admitted, with a warning) and `drift` (a container
runs another digest than the image resolves to now; the running digest's own outcome is given).
A finding's `reason_class` is the class the core gave the refusal (`Refusal`: a fixed set, the bounded
label the scan's gauges use), never read from the reason's wording. The report's keys are stable:
keys may be added, never removed or renamed. Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.core.admission.audit import signature_record
from app.core.admission.decision import ImageOutcome, Refusal, Verdict
from app.core.audits.scan import ContainerResult, TargetResult

REPORT_VERSION = 1
REASON_CLASSES = (*(r.value for r in Refusal), "other")  # other: a refusal the core did not class
_SEVERITY = {Verdict.DENIED: 0, Verdict.WARNED: 1}


def reason_class(refusal: Refusal | None) -> str:
    """The class of why an image (or a whole object) is refused."""
    return refusal.value if refusal is not None else "other"


def scan_report(results: Sequence[TargetResult], scanned_at: datetime, finished: int = 0) -> dict[str, Any]:
    """The whole report (`finished`: pods left out because they no longer run)."""
    statuses = Counter(r.status for r in results)
    findings = [f for r in results for f in _findings(r)]
    images = _images(results)
    return {
        "version": REPORT_VERSION,
        "scanned_at": scanned_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "summary": {
            "pods": sum(1 for r in results if r.target.request.is_pod),
            "workloads": sum(1 for r in results if not r.target.request.is_pod),
            "finished_pods_left_out": finished,
            "images": len(images),
            **{status: statuses[status] for status in ("denied", "would-deny", "skipped", "allowed")},
            "drift": sum(1 for f in findings if f["finding"] == "drift"),
        },
        "findings": findings,
        "images": images,
        "targets": [_target(r) for r in results],
    }


def _findings(result: TargetResult) -> list[dict[str, Any]]:
    target, found = result.target, list[dict[str, Any]]()
    where = {"namespace": target.namespace, "kind": target.kind, "name": target.name, "owner": target.owner}
    if result.status in ("denied", "would-deny") and not result.decision.images:
        found.append(
            {
                "finding": "denied",
                **where,
                "container": None,
                "image": None,
                "reason": result.decision.message or result.decision.summary,
                "reason_class": reason_class(result.decision.refusal),
                "policies": [],
            }
        )
    for c in result.containers:
        outcome = c.outcome
        if outcome.verdict in _SEVERITY:
            kind = "denied" if outcome.verdict is Verdict.DENIED else "would-deny"
            found.append(
                {
                    "finding": kind,
                    **where,
                    **_where_in(c),
                    "reason": outcome.reason,
                    "reason_class": reason_class(outcome.refusal),
                    "policies": list(outcome.policies),
                }
            )
        if c.running_outcome is not None:
            checked = c.running_outcome
            reason = (
                f"runs {c.running}, not {outcome.digest} (what {outcome.container.image} resolves to now); "
                f"the running digest is {checked.verdict.value}: {checked.reason}"
            )
            found.append(
                {
                    "finding": "drift",
                    **where,
                    **_where_in(c),
                    "reason": reason,
                    "reason_class": reason_class(checked.refusal) if checked.verdict in _SEVERITY else None,
                    "policies": list(checked.policies),
                    "running_verdict": checked.verdict.value,
                    "running_reason": checked.reason,
                }
            )
    return found


def _where_in(c: ContainerResult) -> dict[str, Any]:
    return {
        "container": c.outcome.container.label,
        "image": c.outcome.container.image,
        "verified_digest": str(c.outcome.digest) if c.outcome.digest else None,
        "running_digest": str(c.running) if c.running else None,
    }


def _images(results: Sequence[TargetResult]) -> list[dict[str, Any]]:
    """One row per image as written: the most severe outcome among the targets that run it."""
    rows: dict[str, dict[str, Any]] = {}
    for result in results:
        for c in result.containers:
            o = c.outcome
            row = rows.setdefault(
                o.container.image,
                {
                    "image": o.container.image,
                    "_outcomes": [],
                    "_targets": set(),
                    "_namespaces": set(),
                    "_running": set(),
                },
            )
            row["_outcomes"].append(o)
            row["_targets"].add((result.target.namespace, result.target.kind, result.target.name))
            row["_namespaces"].add(result.target.namespace)
            if c.running is not None:
                row["_running"].add(str(c.running))
    return sorted(
        (_image_row(row) for row in rows.values()), key=lambda r: (_SEVERITY.get(r["verdict"], 2), r["image"])
    )  # StrEnum keys match their text


def _image_row(row: dict[str, Any]) -> dict[str, Any]:
    outcomes: list[ImageOutcome] = row["_outcomes"]
    decided = [o for o in outcomes if o.verdict is not Verdict.SKIPPED] or outcomes
    worst = min(decided, key=lambda o: _SEVERITY.get(o.verdict, 2))
    return {
        "image": row["image"],
        "reference": str(worst.reference) if worst.reference is not None else None,
        "verdict": worst.verdict.value,
        "reason": worst.reason,
        "verified_digest": str(worst.digest) if worst.digest is not None else None,
        "running_digests": sorted(row["_running"]),
        "policies": list(worst.policies),
        "signers": sorted({s.signed_by() for s in worst.signatures}),
        "objects": len(row["_targets"]),
        "namespaces": sorted(row["_namespaces"]),
    }


def _target(result: TargetResult) -> dict[str, Any]:
    target = result.target
    return {
        "namespace": target.namespace,
        "kind": target.kind,
        "name": target.name,
        "owner": target.owner,
        "started": target.started.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if target.started
        else None,
        "status": result.status,
        "message": result.decision.message,
        "containers": [
            {
                **_where_in(c),
                "verdict": c.outcome.verdict.value,
                "reason": c.outcome.reason,
                "policies": list(c.outcome.policies),
                "signatures": [signature_record(s) for s in c.outcome.signatures],
                "running_verdict": c.running_outcome.verdict.value if c.running_outcome is not None else None,
            }
            for c in result.containers
        ],
    }
