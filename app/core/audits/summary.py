"""What a security team asks of the audit log, answered from validated records.

`summarise` counts decisions by namespace, policy and reason, lists the denied images, the images
warn-mode policies would have denied, the namespaces whose images were skipped, the refused
(malformed) reviews, which key (or keyless identity) admitted which images, and the time range.
Decisions are counted on `validate` records and on refused (malformed) reviews of either webhook:
`/mutate` always answers allow (the validating webhook is the gate), so its other records count only
in `by_webhook`. `Filters` narrow the records first
(namespace, image, decision, time); with an image filter, the per-image tallies keep only the images
that match. Pure: records in, a JSON-ready dict out.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.admission.audit import rfc3339_ms
from app.core.audits.lines import AuditRecord, LineProblem, ReadLines

DECISIONS = ("allow", "deny", "refused", "would-deny")


@dataclass(frozen=True)
class Filters:
    """Which records to summarise. Empty means any; `images` are globs (`*` any text) or substrings,
    matched against the image as written and its normalised reference; `decisions` are among
    `DECISIONS` (`would-deny`: admitted, but a warn-mode policy refused some image)."""

    namespaces: frozenset[str] = frozenset()
    images: tuple[str, ...] = ()
    decisions: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def keeps(self, record: AuditRecord) -> bool:
        data = record.data
        if self.since is not None and record.at < self.since:
            return False
        if self.until is not None and record.at > self.until:
            return False
        if self.namespaces and data.get("namespace") not in self.namespaces:
            return False
        if self.decisions and not self.decisions & _decisions_of(data):
            return False
        return not self.images or any(self.keeps_image(i) for i in data["images"])

    def keeps_image(self, image: dict[str, Any]) -> bool:
        if not self.images:
            return True
        texts = [t for t in (image.get("image"), image.get("reference")) if isinstance(t, str)]
        return any(_matches(pattern, text) for pattern in self.images for text in texts)


def summarise(read: ReadLines, filters: Filters | None = None) -> dict[str, Any]:
    """The summary of `read` (see the module docstring), as a JSON-ready dict."""
    keep = filters or Filters()
    matched = [r for r in read.records if keep.keeps(r)]
    decided = [r for r in matched if r.data["webhook"] == "validate" or r.data["decision"] == "refused"]
    tally = _Tally(keep)
    for record in decided:
        tally.add(record)
    times = sorted(r.at for r in matched)
    return {
        "lines": read.lines,
        "records": len(read.records),
        "matched": len(matched),
        "time_range": {"first": rfc3339_ms(times[0]), "last": rfc3339_ms(times[-1])} if times else None,
        "by_webhook": dict(Counter(r.data["webhook"] for r in matched)),
        "decisions": {d: tally.decisions[d] for d in (*DECISIONS, "dry-run")},
        "by_namespace": tally.namespaces(),
        "by_policy": tally.policies(),
        "deny_reasons": _counted(tally.deny_reasons, "reason"),
        "denied_images": tally.images(tally.denied),
        "would_deny_images": tally.images(tally.warned),
        "skipped": _counted(tally.skipped, "namespace", "images"),
        "admitted_by": tally.signers(),
        "refused": [
            {
                "time": r.data["time"],
                "uid": r.data["uid"],
                "webhook": r.data["webhook"],
                "message": r.data["message"],
            }
            for r in decided
            if r.data["decision"] == "refused"
        ],
        "unreadable": [_problem(p) for p in read.unreadable],
        "other_lines": {"count": len(read.other), "first": [_problem(p) for p in read.other[:5]]},
    }


class _Tally:
    """The counters `summarise` fills, one validate (or refused) record at a time."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.decisions: Counter[str] = Counter()
        self.by_namespace: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_policy: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.deny_reasons: Counter[str] = Counter()
        self.denied: dict[str, _ImageTally] = {}
        self.warned: dict[str, _ImageTally] = {}
        self.skipped: Counter[str] = Counter()
        self.signed: dict[tuple[str, str], set[str]] = defaultdict(set)

    def add(self, record: AuditRecord) -> None:
        data = record.data
        namespace = data.get("namespace") or "(none)"
        for decision in _decisions_of(data):
            self.decisions[decision] += 1
            if decision != "refused":
                self.by_namespace[namespace][decision] += 1
        if data.get("dry_run"):
            self.decisions["dry-run"] += 1
        images = [i for i in data["images"] if self.filters.keeps_image(i)]
        if data["decision"] == "deny" and not any(i["verdict"] == "denied" for i in images):
            self.deny_reasons[data["summary"]] += 1  # denied as a whole: too many images, internal error
        for image in images:
            self._add_image(record, namespace, image)

    def _add_image(self, record: AuditRecord, namespace: str, image: dict[str, Any]) -> None:
        verdict = image["verdict"]
        for policy in image["policies"]:
            self.by_policy[policy][verdict] += 1
        if verdict == "denied":
            self.deny_reasons[image["reason"]] += 1
            self.denied.setdefault(image["image"], _ImageTally()).add(record, namespace, image)
        elif verdict == "warned":
            self.warned.setdefault(image["image"], _ImageTally()).add(record, namespace, image)
        elif verdict == "skipped":
            self.skipped[namespace] += 1
        elif verdict == "verified" and record.data["decision"] == "allow":
            shown = image["reference"] or image["image"]
            if image["digest"]:
                shown = f"{shown.split('@')[0]}@{image['digest']}"
            for signature in image["signatures"]:
                self.signed[(_signer(signature), signature["key_fingerprint"])].add(shown)

    def namespaces(self) -> list[dict[str, Any]]:
        rows = [
            {"namespace": ns, **{d: c[d] for d in ("allow", "deny", "would-deny")}}
            for ns, c in self.by_namespace.items()
        ]
        return sorted(rows, key=lambda row: (-row["deny"], -row["would-deny"], str(row["namespace"])))

    def policies(self) -> list[dict[str, Any]]:
        verdicts = ("verified", "denied", "warned")
        rows = [{"policy": name, **{v: c[v] for v in verdicts}} for name, c in self.by_policy.items()]
        return sorted(rows, key=lambda row: (-row["denied"], -row["warned"], row["policy"]))

    def images(self, found: dict[str, _ImageTally]) -> list[dict[str, Any]]:
        rows = [tally.row(image) for image, tally in found.items()]
        return sorted(rows, key=lambda row: (-row["count"], row["image"]))

    def signers(self) -> list[dict[str, Any]]:
        rows = [
            {"signer": signer, "key_fingerprint": fingerprint, "images": sorted(images)}
            for (signer, fingerprint), images in self.signed.items()
        ]
        return sorted(rows, key=lambda row: (-len(row["images"]), row["signer"], row["key_fingerprint"]))


class _ImageTally:
    """How often one image was denied (or warned about), where, why, by which policies, and when last."""

    def __init__(self) -> None:
        self.count = 0
        self.namespaces: set[str] = set()
        self.reasons: Counter[str] = Counter()
        self.policies: set[str] = set()
        self.last: datetime | None = None

    def add(self, record: AuditRecord, namespace: str, image: dict[str, Any]) -> None:
        self.count += 1
        self.namespaces.add(namespace)
        self.reasons[image["reason"]] += 1
        self.policies.update(image["policies"])
        self.last = record.at if self.last is None else max(self.last, record.at)

    def row(self, image: str) -> dict[str, Any]:
        return {
            "image": image,
            "count": self.count,
            "namespaces": sorted(self.namespaces),
            "policies": sorted(self.policies),
            "reasons": [reason for reason, _ in self.reasons.most_common()],
            "last": rfc3339_ms(self.last) if self.last is not None else None,
        }


def _decisions_of(data: dict[str, Any]) -> set[str]:
    """The `DECISIONS` a record counts for: its answer, and `would-deny` when warn mode refused."""
    found = {data["decision"]}
    if data.get("would_deny"):
        found.add("would-deny")
    return found


def _signer(signature: dict[str, Any]) -> str:
    """Who signed: a keyless identity when the record names one, else the key's name."""
    identity = signature.get("identity")
    return identity if isinstance(identity, str) and identity else str(signature["key"])


def _matches(pattern: str, text: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(text, pattern)
    return pattern in text


def _counted(counter: Counter[str], name: str, count: str = "count") -> list[dict[str, Any]]:
    return [{name: key, count: n} for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _problem(problem: LineProblem) -> dict[str, str]:
    return {"where": problem.where, "reason": problem.reason, "excerpt": problem.excerpt}
