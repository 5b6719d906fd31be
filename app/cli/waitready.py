"""`sigwebhook wait-ready --url URL --revision REV [--wait-seconds N]`: the chart's registration gate.

Helm runs it in a Job after every install, upgrade and rollback, before it creates the webhook
configurations. It succeeds once a webhook pod of this release answers `GET /readyz` through the
Service with HTTP 200 and the release's revision (a digest of image and config that the chart sets
in the pods): during an upgrade the old pods keep answering through the Service while the new ones
roll out or crash, and they must not open the gate. Past the bound it fails saying that nothing was
registered, so the install fails while no pod in the cluster depends on the webhook yet.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from app.cli.usage import EXIT_OK, UsageError
from app.cli.webhookcalls import CheckFailed, WebhookCalls, add_webhook_options, webhook_calls
from app.clock import SYSTEM_CLOCK
from app.core.errors import shown
from app.core.ports import Clock

DEFAULT_WAIT_SECONDS = 180
RETRY_SECONDS = 2.0


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `wait-ready` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "wait-ready",
        parents=parents,
        help="wait until a webhook pod of a given revision answers /readyz (the chart's registration gate)",
        description="Wait until the webhook at URL answers GET /readyz with HTTP 200 and revision REV, "
        "for at most N seconds. Exit 0 once it does, 1 when it did not within the bound.",
    )
    add_webhook_options(parser)
    parser.add_argument("--revision", required=True, metavar="REV", help="the revision /readyz must report")
    parser.add_argument(
        "--wait-seconds",
        type=int,
        default=DEFAULT_WAIT_SECONDS,
        metavar="N",
        help=f"give up after N seconds (default: {DEFAULT_WAIT_SECONDS})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `wait-ready` with the parsed `args`; the exit code."""
    if args.wait_seconds <= 0:
        raise UsageError(f"--wait-seconds must be more than 0, not {args.wait_seconds}")
    calls = webhook_calls(args)
    wait_ready(calls, args.revision, args.wait_seconds)
    print(
        f"sigwebhook (revision {args.revision}) answers {calls.url}/readyz: registering the webhook configuration"
    )
    return EXIT_OK


def wait_ready(
    calls: WebhookCalls,
    revision: str,
    bound: float,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once `/readyz` reports `revision`; `CheckFailed` with the last reason after `bound` s."""
    deadline, last = clock.monotonic() + bound, "no attempt"
    while clock.monotonic() < deadline:
        reason = not_ready_because(calls, revision)
        if reason is None:
            return
        last = reason
        print(f"not ready yet: {reason}", file=sys.stderr)
        sleep(max(0.0, min(RETRY_SECONDS, deadline - clock.monotonic())))
    raise CheckFailed(
        f"sigwebhook did not answer {calls.url}/readyz within {bound:g}s (last error: {last}). "
        "The webhook configuration was NOT registered, so no pod is blocked. Check the webhook pods "
        "(kubectl get pods, kubectl logs) and run helm upgrade again."
    )


def not_ready_because(calls: WebhookCalls, revision: str) -> str | None:
    """Why the webhook at `calls` is not a ready pod of `revision`, or None when it is."""
    try:
        status, body = calls.call("/readyz")
    except CheckFailed as exc:
        return exc.reason
    if status != 200:
        return f"HTTP {status}"
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = None
    answered = answer.get("revision") if isinstance(answer, dict) else None
    if answered != revision:
        told = shown(answered) if isinstance(answered, str) and answered else "unknown"
        return f"a pod of revision {told} answered, not {revision} (rollout still running?)"
    return None
