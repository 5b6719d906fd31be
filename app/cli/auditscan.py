"""`sigwebhook audit scan --config FILE`: what runs in the cluster that the policies would not admit now.

Lists the pods (and with `--workloads` the workload templates) of the cluster or of `--namespace`s
through the API server, decides each with the webhook's own policy, keys, registry settings and
verifier (`app.compose.scan.build_scan`, `app.core.audits.scan`), and reports per object and per image:
the verdict, the reason, the policy, the digest running (pod status `imageID`) and, when that is not
the digest the image resolves to now, whether the running digest itself would be admitted. Pods that
have finished are left out (counted). Reports: a readable table, `-o json`, `-o sarif` (SARIF 2.1.0,
for code-scanning dashboards) or `-o prometheus` (gauges; `--pushgateway URL` pushes them, for the
chart's CronJob). Exit 0 when nothing running would be denied, 1 when something would (or a running
digest would) or the scan failed (the API server, a Secret, the push), 2 on a usage error. Progress goes
to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from app.cli.auditreports import metrics_registry, to_prometheus, to_sarif, to_scan_text
from app.cli.keyrefs import kubeconfig_path
from app.cli.timespans import parse_since
from app.cli.usage import EXIT_FAILED, EXIT_OK, UsageError
from app.clock import SYSTEM_CLOCK
from app.compose.scan import ClusterScan, build_scan
from app.core.audits.report import scan_report
from app.core.audits.scan import DEFAULT_CONCURRENCY, scan
from app.core.audits.targets import Target
from app.core.errors import SigwebhookError

MAX_CONCURRENCY = 64
PUSH_JOB = "sigwebhook-audit-scan"
PUSH_TIMEOUT_SECONDS = 30.0


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `audit scan` on `commands` (the `audit` command's sub-parsers)."""
    parser = commands.add_parser(
        "scan",
        parents=parents,
        help="check what runs in the cluster against the webhook's policies",
        description="List pods (and with --workloads the workload templates) through the API server and "
        "decide each as the webhook would admit it now, with the policies, keys and registry settings of "
        "its config. Exit 0 when nothing running would be denied, 1 when something would, 2 on a usage error.",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="the webhook's YAML config")
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="default: $KUBECONFIG, ~/.kube/config, then the in-cluster account",
    )
    parser.add_argument(
        "--namespace", "-n", action="append", default=[], help="only this namespace (repeatable)"
    )
    parser.add_argument(
        "--exclude-namespace",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="leave this namespace out",
    )
    parser.add_argument("--workloads", action="store_true", help="also check the pod templates of workloads")
    parser.add_argument("--since", help="only pods started (objects created) since: 30m, 12h, 7d or a time")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"images verified at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--output",
        "-o",
        choices=("text", "json", "sarif", "prometheus"),
        default="text",
        help="report format",
    )
    parser.add_argument(
        "--pushgateway",
        metavar="URL",
        help="also push the gauges of -o prometheus to this Prometheus Pushgateway",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `audit scan`; the exit code."""
    from app.config import load_settings

    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be from 1 to {MAX_CONCURRENCY}, not {args.concurrency}")
    now = SYSTEM_CLOCK.now()
    since = parse_since(args.since, now) if args.since else None
    settings = load_settings(Path(args.config))
    kubeconfig = kubeconfig_path(args.kubeconfig, os.environ, "audit scan needs")
    parts = build_scan(settings, kubeconfig)
    targets, finished = _targets(parts.api, args, since)
    report = asyncio.run(_scan(parts, targets, args.concurrency))
    report = scan_report(report, now, finished)
    if args.output == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
    elif args.output == "sarif":
        print(json.dumps(to_sarif(report), indent=2, ensure_ascii=False))
    elif args.output == "prometheus":
        sys.stdout.write(to_prometheus(report))
    else:
        sys.stdout.write(to_scan_text(report))
    if args.pushgateway:
        push_metrics(args.pushgateway, report)
    return EXIT_FAILED if would_deny_running(report) else EXIT_OK


def push_metrics(url: str, report: dict[str, Any]) -> None:
    """Replace the gauges of job `sigwebhook-audit-scan` on the Pushgateway at `url` (HTTP PUT)."""
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(url, job=PUSH_JOB, registry=metrics_registry(report), timeout=PUSH_TIMEOUT_SECONDS)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        raise SigwebhookError(f"cannot push the metrics to {url}: {exc}") from exc


def would_deny_running(report: dict[str, Any]) -> bool:
    """True when admission would deny some object now, or a container runs a digest it would deny."""
    return any(
        f["finding"] == "denied" or (f["finding"] == "drift" and f.get("running_verdict") == "denied")
        for f in report["findings"]
    )


def _targets(api: Any, args: argparse.Namespace, since: datetime | None) -> tuple[list[Target], int]:
    """The objects to decide, and how many finished pods were left out."""
    from app.core.audits.targets import pod_target, workload_target
    from app.kube.listing import PODS, WORKLOADS, list_objects

    excluded = set(args.exclude_namespace)
    resources = [PODS, *(WORKLOADS if args.workloads else ())]
    targets: list[Target] = []
    finished = 0
    for resource in resources:
        for listed in list_objects(api, resource, args.namespace):
            if resource is PODS:
                target = pod_target(listed.object)
            else:
                target = workload_target(listed.object, resource.group, listed.version, resource.kind)
            if target.namespace in excluded or (
                since is not None and (target.started is None or target.started < since)
            ):
                continue
            if target.finished:
                finished += 1
                continue
            targets.append(target)
    return targets, finished


async def _scan(parts: ClusterScan, targets: list[Target], concurrency: int) -> Any:
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        return await scan(
            targets,
            parts.policy,
            parts.snapshot,
            parts.verifier,
            parts.deadline_seconds,
            concurrency,
            progress,
        )
    finally:
        if progress is not None:
            progress.clear()
        await parts.aclose()


class _Progress:
    """`verifying images: 12/40` on one terminal line, rewritten as images finish."""

    def __call__(self, done: int, total: int) -> None:
        sys.stderr.write(f"\rverifying images: {done}/{total}")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
