"""`sigwebhook audit scan|log`: what is running that the policies would not admit today, and what the
webhook decided. The two sub-commands live in `auditscan` and `auditlog`; each is imported only when
named (`scan` needs the Kubernetes client, `log` does not)."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

AUDIT_COMMANDS = {"scan": "app.cli.auditscan", "log": "app.cli.auditlog"}


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `audit` and its sub-commands on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "audit",
        parents=parents,
        help="audit the cluster (scan) or the webhook's decisions (log)",
        description="Policy audits: `audit scan` checks what runs in the cluster against the webhook's "
        "policies; `audit log` summarises the webhook's audit lines.",
    )
    audits = parser.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    for module in AUDIT_COMMANDS.values():
        importlib.import_module(module).add_parser(audits, parents)
