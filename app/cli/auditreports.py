"""The forms of `sigwebhook audit scan`'s report besides JSON: a readable table, SARIF 2.1.0 and
Prometheus gauges. All are built from the JSON report (`app.core.audits.report.scan_report`).

SARIF (OASIS SARIF 2.1.0, https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html): one
result per finding, rule `denied` (level error), `would-deny` (warning) or `drift` (error when the
running digest would be denied, else warning), located by a logical location
`namespace/Kind/name/container`: nothing here is a file.

Prometheus: gauges with bounded labels. `namespace` takes at most `MAX_NAMESPACE_LABELS` values (the
namespaces with the most findings; the rest are summed under `(other)`) and `reason` one of the
fixed `REASON_CLASSES`. A pod with denied images of two classes counts once under each.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from app.cli.tables import table
from app.compose import installed_version
from app.core.audits.report import REASON_CLASSES

MAX_ROWS = 50
MAX_NAMESPACE_LABELS = 50
OTHER_NAMESPACES = "(other)"
_RULES = {
    "denied": ("error", "Admission would deny this object now"),
    "would-deny": ("warning", "Only warn-mode policies refuse it: admitted now, denied once they enforce"),
    "drift": ("warning", "A container runs another digest than its image resolves to now"),
}


def to_scan_text(report: dict[str, Any]) -> str:
    """The readable report, ending with a newline."""
    s = report["summary"]
    lines = [
        f"Scan at {report['scanned_at']}: {s['pods']} pods, {s['workloads']} workloads, {s['images']} distinct images"
        + (f" ({s['finished_pods_left_out']} finished pods left out)" if s["finished_pods_left_out"] else ""),
        f"  denied {s['denied']}, would-deny {s['would-deny']}, skipped {s['skipped']}, allowed {s['allowed']}; "
        f"running digest differs: {s['drift']}",
    ]
    for finding, title in (
        ("denied", "Would be DENIED now"),
        ("would-deny", "Would be denied if the warn-mode policies enforced"),
        ("drift", "Running digest differs from what the image resolves to now"),
    ):
        rows = [f for f in report["findings"] if f["finding"] == finding]
        if not rows:
            continue
        lines += ["", f"{title} ({len(rows)})"]
        where = ["NAMESPACE", "OBJECT", "CONTAINER", "IMAGE"]
        if finding == "drift":  # the digests, shortened, and what the running one would get
            header = [*where, "RUNS", "RESOLVES TO", "THE RUNNING DIGEST"]
            cells = [
                [*_where(f), _short(f["running_digest"]), _short(f["verified_digest"]),
                 f"{f['running_verdict']}: {f['running_reason']}"]
                for f in rows[:MAX_ROWS]
            ]  # fmt: skip
        else:
            header, cells = [*where, "REASON"], [[*_where(f), f["reason"]] for f in rows[:MAX_ROWS]]
        lines += table(header, cells)
        if len(rows) > MAX_ROWS:
            lines.append(f"  … and {len(rows) - MAX_ROWS} more (-o json lists all)")
    images = report["images"]
    lines += ["", f"Images ({len(images)})"]
    lines += table(
        ("VERDICT", "IMAGE", "OBJECTS", "POLICIES", "REASON"),
        [
            (i["verdict"], i["image"], i["objects"], ",".join(i["policies"]), i["reason"])
            for i in images[:MAX_ROWS]
        ],
    )
    if len(images) > MAX_ROWS:
        lines.append(f"  … and {len(images) - MAX_ROWS} more (-o json lists all)")
    return "\n".join(lines) + "\n"


def _where(finding: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    return (
        finding["namespace"],
        f"{finding['kind']} {finding['name']}",
        finding["container"],
        finding["image"],
    )


def _short(digest: str | None) -> str | None:
    """`sha256:` and the first 12 hex digits (-o json has the whole digest)."""
    return digest if digest is None or len(digest) <= 19 else digest[:19] + "…"


def to_sarif(report: dict[str, Any]) -> dict[str, Any]:
    """The findings as a SARIF 2.1.0 log with one run."""
    results = []
    for f in report["findings"]:
        level = _RULES[f["finding"]][0]
        if f["finding"] == "drift" and f.get("running_verdict") == "denied":
            level = "error"
        where = "/".join(str(part) for part in (f["namespace"], f["kind"], f["name"], f["container"]) if part)
        subject = f"{f['kind']} {f['namespace']}/{f['name']}" + (
            f" {f['container']} {f['image']}" if f["container"] else ""
        )
        results.append(
            {
                "ruleId": f["finding"],
                "level": level,
                "message": {"text": f"{subject}: {f['reason']}"},
                "locations": [{"logicalLocations": [{"fullyQualifiedName": where, "kind": "resource"}]}],
                "properties": {k: v for k, v in f.items() if k != "finding"},
            }
        )
    rules = [
        {"id": rule, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level}}
        for rule, (level, text) in _RULES.items()
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "sigwebhook", "version": installed_version(), "rules": rules}},
                "invocations": [{"executionSuccessful": True, "endTimeUtc": report["scanned_at"]}],
                "results": results,
            }
        ],
    }


def to_prometheus(report: dict[str, Any]) -> str:
    """The gauges of `metrics_registry` in the Prometheus text format."""
    from prometheus_client import generate_latest

    return generate_latest(metrics_registry(report)).decode("utf-8")


def metrics_registry(report: dict[str, Any]) -> Any:
    """A `prometheus_client.CollectorRegistry` with the gauges: pods denied and would-deny by namespace
    and reason class, containers whose running digest differs by namespace, the scan's time and totals."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry(auto_describe=True)
    kept = _kept_namespaces(report["findings"])
    for finding, name, what in (
        ("denied", "sigwebhook_audit_denied_pods", "Running pods admission would deny now"),
        ("would-deny", "sigwebhook_audit_would_deny_pods", "Running pods only warn-mode policies refuse"),
    ):
        gauge = Gauge(
            name, f"{what}, by namespace and reason class", ["namespace", "reason"], registry=registry
        )
        pods = {
            (f["namespace"], f["name"], f["reason_class"] if f["reason_class"] in REASON_CLASSES else "other")
            for f in report["findings"]
            if f["finding"] == finding and f["kind"] == "Pod"
        }
        for (namespace, reason), count in Counter(
            (_label(ns, kept), reason) for ns, _, reason in pods
        ).items():
            gauge.labels(namespace, reason).set(count)
    drift = Gauge("sigwebhook_audit_drifted_containers", "Containers running another digest than their image resolves to now, by namespace", ["namespace"], registry=registry)  # fmt: skip
    for namespace, count in Counter(
        _label(f["namespace"], kept) for f in report["findings"] if f["finding"] == "drift"
    ).items():
        drift.labels(namespace).set(count)
    summary = report["summary"]
    Gauge("sigwebhook_audit_scanned_pods", "Running pods the last scan checked", registry=registry).set(
        summary["pods"]
    )
    Gauge("sigwebhook_audit_scanned_images", "Distinct images the last scan checked", registry=registry).set(
        summary["images"]
    )
    stamp = Gauge("sigwebhook_audit_last_scan_timestamp_seconds", "When the last scan ran", registry=registry)
    stamp.set(datetime.fromisoformat(report["scanned_at"]).timestamp())
    return registry


def _kept_namespaces(findings: list[dict[str, Any]]) -> set[str]:
    """The namespaces that get a label of their own: those with the most findings."""
    counts = Counter(f["namespace"] for f in findings)
    return {ns for ns, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_NAMESPACE_LABELS]}


def _label(namespace: str, kept: set[str]) -> str:
    return namespace if namespace in kept else OTHER_NAMESPACES
