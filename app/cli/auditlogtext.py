"""The readable form of `sigwebhook audit log`'s summary: a heading, then one section per question.

Each list shows its first `MAX_ROWS` rows and says how many more `-o json` has. Sections with nothing
to show are left out, except the unreadable lines, which are always reported when there are any.
"""

from __future__ import annotations

from typing import Any

from app.cli.output import fingerprint_label
from app.cli.tables import table
from app.core.printable import printable

MAX_ROWS = 20


def to_text(summary: dict[str, Any]) -> str:
    """The report, ending with a newline."""
    lines = _heading(summary)
    decisions = summary["decisions"]
    lines += [
        "",
        "Decisions (validate): " + ", ".join(f"{name} {count}" for name, count in decisions.items()),
    ]
    _section(lines, "By namespace", ("namespace", "allow", "deny", "would-deny"), summary["by_namespace"])
    _section(lines, "By policy (images)", ("policy", "verified", "denied", "warned"), summary["by_policy"])
    _section(lines, "Why denied", ("count", "reason"), summary["deny_reasons"])
    _images(lines, "Denied images", summary["denied_images"])
    _images(lines, "Would be denied (warn-mode policies)", summary["would_deny_images"])
    _section(
        lines, "Skipped (skipNamespaces: admitted unverified)", ("namespace", "images"), summary["skipped"]
    )
    _signers(lines, summary["admitted_by"])
    _section(lines, "Refused (malformed reviews)", ("time", "uid", "message"), summary["refused"])
    return "\n".join(lines) + "\n"


def _heading(summary: dict[str, Any]) -> list[str]:
    span = summary["time_range"]
    when = f"{span['first']} .. {span['last']}" if span else "no records"
    webhooks = ", ".join(f"{name} {count}" for name, count in sorted(summary["by_webhook"].items()))
    lines = [
        f"Audit log: {summary['lines']} lines, {summary['records']} audit records, "
        f"{summary['matched']} match the filters",
        f"  time range: {when}",
        f"  by webhook: {webhooks or '-'}",
    ]
    other = summary["other_lines"]
    if other["count"]:
        first = other["first"][0]
        lines.append(
            f"  other output (not audit lines, e.g. logs): {other['count']} lines, first at {first['where']}"
        )
    unreadable = summary["unreadable"]
    if unreadable:
        lines.append(f"  UNREADABLE: {len(unreadable)} lines could not be read as audit records:")
        for problem in unreadable[:MAX_ROWS]:
            lines.append(f"    {problem['where']}: {problem['reason']}: {problem['excerpt']}")
        _more(lines, len(unreadable), "    ")
    return lines


def _section(lines: list[str], title: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    lines += ["", title]
    lines += table(columns, [[row[c] for c in columns] for row in rows[:MAX_ROWS]])
    _more(lines, len(rows))


def _images(lines: list[str], title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    lines += ["", title]
    for row in rows[:MAX_ROWS]:
        lines.append(f"  {row['count']:>5}  {printable(row['image'])}")
        lines.append(f"         namespaces: {printable(', '.join(row['namespaces']))}; last {row['last']}")
        if row["policies"]:
            lines.append(f"         policies: {printable(', '.join(row['policies']))}")
        for reason in row["reasons"][:3]:
            lines.append(f"         {printable(reason)}")
    _more(lines, len(rows))


def _signers(lines: list[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    lines += ["", "Admitted by (signatures that counted on allowed reviews)"]
    for row in rows[:MAX_ROWS]:
        images = row["images"]
        lines.append(
            f"  {printable(row['signer'])} ({fingerprint_label(row['key_fingerprint'])}): {len(images)} image(s)"
        )
        lines += [f"    {printable(image)}" for image in images[:MAX_ROWS]]
        _more(lines, len(images), "    ")
    _more(lines, len(rows))


def _more(lines: list[str], total: int, indent: str = "  ") -> None:
    if total > MAX_ROWS:
        lines.append(f"{indent}… and {total - MAX_ROWS} more (-o json lists all)")
