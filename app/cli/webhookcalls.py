"""Calls to a running sigwebhook over HTTPS, for the checks the chart runs in pods of its own
(`wait-ready`, `self-test`): which CA to trust, one request, and the error a failed check raises.

They run in the webhook's own image, so there is no other image to trust or pull, and they trust
exactly the CA the API server is given: the caBundle (`--ca-bundle`) or the `ca.crt` of the serving
Secret (`--ca-file`), never the system's roots when either is named. Standard library only (the
check must start fast and needs nothing the server's stack brings).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli.usage import UsageError
from app.core.errors import SigwebhookError

REQUEST_TIMEOUT_SECONDS = 5.0
MAX_ANSWER_BYTES = 1024 * 1024


class CheckFailed(SigwebhookError):
    """The webhook did not answer as it must (exit 1)."""


@dataclass(frozen=True)
class Trust:
    """The CA a check trusts: PEM text given on the command line, a file read at every call (the
    chart mounts it from a Secret, which may be filled in after the pod started), or, with neither,
    the system's roots."""

    ca_pem: str | None = None
    ca_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_pem is not None:
            context = ssl.create_default_context(cadata=self.ca_pem)
        elif self.ca_file is not None:
            if not self.ca_file.is_file():
                raise CheckFailed(f"no CA file at {self.ca_file} (yet)")
            context = ssl.create_default_context(cafile=str(self.ca_file))
        return context


@dataclass(frozen=True)
class WebhookCalls:
    """HTTPS requests to the webhook at `url` (scheme, host and port; no path)."""

    url: str
    trust: Trust

    def call(self, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """GET `path` (POST `body` as JSON when given): the HTTP status and body. `CheckFailed` when
        there is no HTTP answer (refused, TLS not trusted, timed out)."""
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            context = self.trust.context()
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS, context=context) as answer:
                return answer.status, answer.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:  # an HTTP answer, only not a 2xx one
            return exc.code, exc.read(MAX_ANSWER_BYTES)
        except urllib.error.URLError as exc:
            raise CheckFailed(f"{self.url}{path}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            raise CheckFailed(f"{self.url}{path}: {exc}") from exc

    def review(self, path: str, review: dict[str, Any]) -> dict[str, Any]:
        """POST an AdmissionReview to `path`: the `response` of the one it answers with."""
        status, body = self.call(path, json.dumps(review).encode())
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        response = answer.get("response") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(response, dict):
            raise CheckFailed(f"{path} answered HTTP {status} without an AdmissionReview response")
        return response


def add_webhook_options(parser: argparse.ArgumentParser) -> None:
    """`--url`, and which CA to trust (`--ca-bundle` or `--ca-file`)."""
    parser.add_argument(
        "--url",
        required=True,
        metavar="URL",
        help="the webhook's HTTPS address, e.g. https://NAME.NS.svc:443",
    )
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca-bundle",
        metavar="BASE64",
        help="trust this CA (base64 of PEM, as in a webhook configuration's caBundle)",
    )
    trust.add_argument(
        "--ca-file",
        metavar="FILE",
        type=Path,
        help="trust the CA in FILE (PEM), read at every attempt; until it exists, attempts fail",
    )


def webhook_calls(args: argparse.Namespace) -> WebhookCalls:
    """The `WebhookCalls` the options describe; `UsageError` naming the bad option."""
    url = str(args.url).rstrip("/")
    if not url.startswith("https://") or len(url) == len("https://"):
        raise UsageError(f"--url must be an https:// address, not {url!r}")
    if args.ca_bundle is None:
        return WebhookCalls(url, Trust(ca_file=args.ca_file))
    try:
        pem = base64.b64decode(args.ca_bundle, validate=True).decode("ascii")
        ssl.create_default_context(cadata=pem)
    except (binascii.Error, UnicodeDecodeError, ValueError, ssl.SSLError) as exc:
        raise UsageError("--ca-bundle must be the base64 of PEM CA certificates") from exc
    return WebhookCalls(url, Trust(ca_pem=pem))
