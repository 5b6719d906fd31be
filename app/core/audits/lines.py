"""Reading audit lines back: text in, validated records out, and every other line accounted for.

A line may come straight from the webhook's stdout, or through `kubectl logs` with `--prefix`
(`[pod/sigwebhook-7d9c/webhook] {...}`) and/or `--timestamps` (`2026-12-04T03:47:35.321Z {...}`);
those prefixes are removed. `kubectl logs` mixes in the webhook's stderr, so a line that does not
hold a JSON object at all is *other output* (a log line), counted and shown apart from the audit
lines. A line that holds a JSON object that is not a valid audit record (cut short, garbled, another
version, a field of the wrong type) is *unreadable*, with the reason. Nothing is dropped silently:
every line ends up in exactly one of `records`, `unreadable` and `other`.

Pure: the caller reads the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.admission.audit import AUDIT_VERSION
from app.core.audits.schema import SchemaValidator, audit_schema
from app.core.printable import printable

# `[pod/NAME/CONTAINER] ` (kubectl logs --prefix), then `2026-…Z ` (kubectl logs --timestamps).
_PREFIX = re.compile(r"^(?:\[[^\]\s]*\]\s+)?(?:\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})\s+)?")
MAX_LINE_CHARS = 4 * 1024 * 1024  # a review record of 500 containers is far smaller
MAX_SHOWN_CHARS = 120  # how much of a bad line is quoted back


@dataclass(frozen=True)
class LineProblem:
    """A line that gave no record: where it was (`source:line`), why, and its beginning."""

    where: str
    reason: str
    excerpt: str


@dataclass(frozen=True)
class AuditRecord:
    """One validated audit record: the JSON object, with its time parsed, and where it was read."""

    data: dict[str, Any]
    at: datetime
    where: str


@dataclass
class ReadLines:
    """Everything read so far: the records, the unreadable lines and the other output."""

    records: list[AuditRecord] = field(default_factory=list)
    unreadable: list[LineProblem] = field(default_factory=list)
    other: list[LineProblem] = field(default_factory=list)
    lines: int = 0


def read_lines(
    lines: Iterable[bytes | str],
    source: str,
    into: ReadLines | None = None,
    validator: SchemaValidator | None = None,
) -> ReadLines:
    """Sort each line of `source` (a file name, `-` for stdin) into records, unreadable and other.
    Lines given as bytes must be UTF-8 (the webhook writes UTF-8): one that is not is unreadable."""
    found = into if into is not None else ReadLines()
    check = validator or audit_schema()
    for number, raw in enumerate(lines, start=1):
        where = f"{source}:{number}"
        if isinstance(raw, bytes):
            encoded = raw
            try:
                raw = encoded.decode("utf-8")
            except UnicodeDecodeError:
                found.lines += 1
                shown = printable(encoded[:MAX_SHOWN_CHARS].decode("utf-8", "replace"))
                found.unreadable.append(LineProblem(where, "not UTF-8 text", shown))
                continue
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue  # a blank line holds nothing to lose
        found.lines += 1
        outcome = read_line(text, where, check)
        if isinstance(outcome, AuditRecord):
            found.records.append(outcome)
        elif outcome.reason == NOT_JSON:
            found.other.append(outcome)
        else:
            found.unreadable.append(outcome)
    return found


NOT_JSON = "not an audit line (no JSON object)"


def read_line(text: str, where: str, validator: SchemaValidator) -> AuditRecord | LineProblem:
    """One line as a validated record, or the problem with it."""
    body = _PREFIX.sub("", text, count=1).strip()
    excerpt = printable(body[:MAX_SHOWN_CHARS]) + ("…" if len(body) > MAX_SHOWN_CHARS else "")
    if not body.startswith("{"):
        return LineProblem(where, NOT_JSON, excerpt)
    if len(body) > MAX_LINE_CHARS:
        return LineProblem(where, f"longer than {MAX_LINE_CHARS} characters", excerpt)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        why = f"not JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else "not JSON"
        return LineProblem(where, why, excerpt)
    if not isinstance(data, dict):
        return LineProblem(where, "not a JSON object", excerpt)
    version = data.get("version")
    if type(version) is not int or version != AUDIT_VERSION:
        shown = "no version field" if version is None else f"version {printable(json.dumps(version))[:20]}"
        why = f"{shown}: this sigwebhook reads audit records of version {AUDIT_VERSION}"
        return LineProblem(where, why, excerpt)
    errors = validator.errors(data)
    if errors:
        return LineProblem(where, "not a valid audit record: " + "; ".join(map(printable, errors)), excerpt)
    try:
        at = datetime.fromisoformat(data["time"])
    except ValueError:  # the schema checks the form; this, that it is a real date (no 31 June)
        return LineProblem(where, "not a valid audit record: time: not a real date and time", excerpt)
    return AuditRecord(data, at, where)
