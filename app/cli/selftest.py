"""`sigwebhook self-test --url URL [--mutate]`: what `helm test` checks on a running release.

The webhook is ready, it denies a pod whose image nobody signed (under `registry.invalid`, a
domain that never resolves: whatever the policies say, it can never verify), and, with `--mutate`,
`/mutate` admits that same review without a patch: only verified images are ever pinned.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.usage import EXIT_OK
from app.cli.webhookcalls import CheckFailed, WebhookCalls, add_webhook_options, webhook_calls

UNSIGNED_IMAGE = "registry.invalid/sigwebhook/unsigned:helm-test"
NAMESPACE = NAME = "sigwebhook-helm-test"


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `self-test` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "self-test",
        parents=parents,
        help="check a running webhook: ready, denies an unsigned image (what helm test runs)",
        description="Check the webhook at URL: /readyz answers, a pod with an unsigned image is denied "
        "and, with --mutate, /mutate admits it without pinning anything. Exit 0 when all hold, 1 otherwise.",
    )
    add_webhook_options(parser)
    parser.add_argument(
        "--mutate", action="store_true", help="check /mutate too (the mutating webhook is on)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `self-test` with the parsed `args`; the exit code."""
    for line in self_test(webhook_calls(args), args.mutate):
        print(line)
    return EXIT_OK


def self_test(calls: WebhookCalls, mutate: bool) -> list[str]:
    """Check the webhook at `calls`; what held, one line each. `CheckFailed` at the first that does not."""
    status, _ = calls.call("/readyz")
    if status != 200:
        raise CheckFailed(f"/readyz answered HTTP {status}")
    review = unsigned_pod_review()
    answer = calls.review("/validate", review)
    if answer.get("allowed") is not False:
        raise CheckFailed(f"an unsigned image was admitted: {answer}")
    message = (answer.get("status") or {}).get("message", "")
    held = [f"ready, and an unsigned image is denied: {message}"]
    if mutate:
        answer = calls.review("/mutate", review)
        if answer.get("allowed") is not True or answer.get("patch"):
            raise CheckFailed(f"/mutate must admit without a patch when nothing verified: {answer}")
        held.append("/mutate answers and pins nothing that did not verify")
    return held


def unsigned_pod_review() -> dict[str, Any]:
    """An AdmissionReview creating a pod whose one image nobody signed."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "app", "image": UNSIGNED_IMAGE}]},
    }
    request = {
        "uid": NAME,
        "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": NAMESPACE,
        "name": NAME,
        "userInfo": {"username": "helm-test"},
        "object": pod,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
