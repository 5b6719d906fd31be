"""Plain-text tables for the audit reports: left-aligned text, right-aligned numbers, two spaces
between columns. Cells are shown with `printable`: names and images in them are the sender's text."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.printable import printable

MAX_CELL = 80  # wider cells are cut ("…"); -o json has the whole text


def table(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    """The lines of a table with `header` over `rows` (numbers are right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], int) for row in rows) and bool(rows) for i in range(len(header))]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line(header)] + [line(row) for row in cells]


def _cell(value: object) -> str:
    text = printable(str(value)) if value is not None else "-"
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
