"""A renewed serving certificate is picked up without a restart (cert-manager renews the Secret in place).

A real uvicorn server over real TLS: the certificate files are replaced while it runs, first by half
a pair (a new certificate beside the old key, as a Secret volume can show for a moment), then whole,
then by a pair of another key type (ECDSA to RSA).
"""

from __future__ import annotations

import logging
import shutil
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.webhook.app import create_app
from app.webhook.tls import ServingCertificate
from tests.fixtures.signing import KeyPair
from tests.fixtures.webhook import RunningWebhook, serve_in_thread
from tests.support.certs import ServerTls, issue_server_tls
from tests.webhook.test_failures import Exploding, reviewer

CHECK_SECONDS = 0.05


def _healthy_with(webhook: RunningWebhook, ca_file: Path) -> bool:
    try:
        with httpx.Client(
            base_url=webhook.url, verify=ssl.create_default_context(cafile=str(ca_file)), timeout=5
        ) as client:
            return client.get("/healthz").status_code == 200
    except httpx.ConnectError:  # the certificate is not signed by `ca_file`
        return False


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(CHECK_SECONDS)
    return False


def _install(source: ServerTls, live: ServingCertificate, *, key: bool = True) -> None:
    shutil.copyfile(source.cert_file, live.cert_file)
    if key:
        shutil.copyfile(source.key_file, live.key_file)


def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
    tmp_path: Path, key_pairs: dict[str, KeyPair], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sigwebhook.server")
    old, new = issue_server_tls(tmp_path / "old"), issue_server_tls(tmp_path / "new")
    live = ServingCertificate(tmp_path / "tls.crt", tmp_path / "tls.key")
    _install(old, live)
    webhook = RunningWebhook("", old.ca_file, Path("-"))
    serve_in_thread(
        webhook,
        create_app(reviewer(key_pairs["ecdsa-p256"], Exploding()), lambda: True),
        live,
        check_seconds=CHECK_SECONDS,
    )
    try:
        assert _healthy_with(webhook, old.ca_file) and not _healthy_with(webhook, new.ca_file)
        # half a pair: the new certificate with the old key does not load, so the old pair keeps serving
        _install(new, live, key=False)
        assert _wait_until(lambda: "does not load yet" in caplog.text), "the half pair was not noticed"
        assert _healthy_with(webhook, old.ca_file), "a half-written pair broke the serving certificate"
        _install(new, live)
        assert _wait_until(lambda: _healthy_with(webhook, new.ca_file)), (
            "the renewed certificate was not served"
        )
        assert not _healthy_with(webhook, old.ca_file)
        # a renewal to another key type: OpenSSL would keep the old pair in the other key slot of a
        # context loaded twice; a new context serves only the new one
        rsa = issue_server_tls(tmp_path / "rsa", rsa=True)
        _install(rsa, live)
        assert _wait_until(lambda: _healthy_with(webhook, rsa.ca_file)), "the RSA renewal was not served"
        assert not _healthy_with(webhook, new.ca_file)
        assert webhook._server is not None and webhook._server.reloads == 2  # type: ignore[attr-defined]
    finally:
        webhook.stop()
