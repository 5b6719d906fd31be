"""`sigwebhook serve --config FILE`: run the admission webhook over HTTPS until stopped.

Start-up is strict: a config, policy, key file or key Secret that cannot be loaded stops here with
the field named and exit code 1, before the port is opened. Then the Secret watchers start, the
server listens, and a ready-to-paste `curl` command that sends a sample AdmissionReview is printed
on stderr (stdout carries only the audit log, one JSON line per review). Objects are built by
`app.compose.build_webhook`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from app import compose
from app.cli.usage import EXIT_FAILED, EXIT_OK
from app.config import load_settings
from app.webhook.server import serve_forever, uvicorn_config

log = logging.getLogger("sigwebhook.serve")
SAMPLE_REVIEW = Path(__file__).resolve().parents[2] / "tests" / "samples" / "pod-create.json"


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `serve` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "serve",
        parents=parents,
        help="run the admission webhook (HTTPS: POST /validate, POST /mutate, GET /healthz, GET /readyz)",
        description="Run the admission webhook: /validate admits a pod or workload only when every image "
        "carries a cosign signature from a key or keyless identity its policies trust; /mutate pins "
        "verified images to their digests. The config is YAML (every field: docs/configuration.md).",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="the webhook's YAML config")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run `serve` with the parsed `args`; the exit code."""
    settings = load_settings(Path(args.config))
    if not (getattr(args, "debug", False) or getattr(args, "verbose", False)):
        logging.getLogger().setLevel(settings.log_level.upper())
        # One line per registry request is `-v` material, not what a webhook logs per review.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    # The chart sets it (image + config digest); /readyz reports it to the registration gate.
    webhook = compose.build_webhook(settings, revision=os.environ.get("SIGWEBHOOK_REVISION") or None)
    webhook.start()
    try:
        print(
            banner(webhook.url, webhook.certificate.cert_file, webhook.certificate.generated), file=sys.stderr
        )
        server = settings.server
        config = uvicorn_config(
            webhook.app, server.host, server.port, webhook.certificate, settings.deadline_seconds,
            loop=server.event_loop, http=server.http,
        )  # fmt: skip
        started = serve_forever(config, webhook.certificate, server.max_connections)
    finally:
        webhook.stop()
    return EXIT_OK if started else EXIT_FAILED


def banner(url: str, cert_file: Path, generated: bool, sample: Path = SAMPLE_REVIEW) -> str:
    """What `serve` prints as it starts: where it listens and a curl command to try it."""
    review = sample if sample.is_file() else Path("REVIEW.json")
    curl = shlex.join(
        [
            "curl",
            "-sS",
            "--cacert",
            str(cert_file),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{review}",
            f"{url}/validate",
        ]
    )
    made = f" (self-signed certificate generated in {cert_file.parent})" if generated else ""
    return f"sigwebhook: starting on {url}{made}\nsigwebhook: once it listens, try:\n  {curl}"
