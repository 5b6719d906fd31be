"""`sigwebhook audit log [FILE…]`: read the webhook's audit lines back and summarise them.

Reads files (or stdin: no FILE, or `-`), plain or as `kubectl logs` prints them (`--prefix`,
`--timestamps`), validates each line against the audit record schema, and prints what a security
team asks (`app.core.audits.summary`): decisions by namespace, policy and reason, denied images,
what warn mode would deny, which key admitted what, the time range. Filters narrow the records;
`-o json` prints the whole summary. Lines that are not audit records are counted and shown: unreadable
ones (a garbled or cut line, a record of another version) with their place and reason, other output
(log lines `kubectl logs` mixes in) by count. Exit 0, or 1 when some line could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.auditlogtext import to_text
from app.cli.timespans import parse_since
from app.cli.usage import EXIT_FAILED, EXIT_OK, UsageError
from app.clock import SYSTEM_CLOCK
from app.core.audits.lines import ReadLines, read_lines
from app.core.audits.summary import DECISIONS, Filters, summarise


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `audit log` on `commands` (the `audit` command's sub-parsers)."""
    parser = commands.add_parser(
        "log",
        parents=parents,
        help="summarise the webhook's audit lines (files, stdin, kubectl logs output)",
        description="Read sigwebhook audit lines (one JSON record per review, as the webhook writes them "
        "on stdout; kubectl logs --prefix/--timestamps output is fine), validate each against the audit "
        "record schema, and summarise the decisions. Lines that cannot be read are counted and shown. "
        "Exit 0, or 1 when some line could not be read.",
    )
    parser.add_argument(
        "files", metavar="FILE", nargs="*", help="audit lines to read (default or '-': stdin)"
    )
    parser.add_argument(
        "--namespace", "-n", action="append", default=[], help="only this namespace (repeatable)"
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        help="only images containing this text, or matching this glob (repeatable)",
    )
    parser.add_argument(
        "--decision",
        action="append",
        default=[],
        choices=DECISIONS,
        help="only reviews with this outcome (repeatable)",
    )
    parser.add_argument("--since", help="only records from then on: 30m, 12h, 7d, or an RFC 3339 time")
    parser.add_argument("--until", help="only records up to then: a span back from now or an RFC 3339 time")
    parser.add_argument(
        "--output", "-o", choices=("text", "json"), default="text", help="report format (default text)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `audit log`; the exit code."""
    now = SYSTEM_CLOCK.now()
    filters = Filters(
        namespaces=frozenset(args.namespace),
        images=tuple(args.image),
        decisions=frozenset(args.decision),
        since=parse_since(args.since, now) if args.since else None,
        until=parse_since(args.until, now, "--until") if args.until else None,
    )
    read = ReadLines()
    for name in args.files or ["-"]:
        read_source(name, read)
    summary = summarise(read, filters)
    if args.output == "json":
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(to_text(summary))
    if summary["unreadable"]:
        count = len(summary["unreadable"])
        print(f"sigwebhook: {count} line(s) could not be read as audit records", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def read_source(name: str, into: ReadLines) -> None:
    """Read the lines of file `name` (`-`: stdin) into `into`; `UsageError` when it cannot be opened."""
    if name == "-":
        read_lines(sys.stdin.buffer, "stdin", into)
        return
    path = Path(name)
    try:
        with path.open("rb") as handle:
            read_lines(handle, name, into)
    except FileNotFoundError:
        raise UsageError(f"audit log file {name} not found") from None
    except IsADirectoryError:
        raise UsageError(f"audit log file {name} is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read audit log file {name}: {exc.strerror or exc}") from None
