"""Run the webhook app on uvicorn over TLS, picking up a renewed serving certificate without a restart.

`uvicorn_config` is the one place the server's options are set (TLS files, host, port, no access
log: the audit line is the record of each review, and uvicorn's own logging goes through ours).
`WebhookServer` is uvicorn's server plus a watch on the certificate files: cert-manager (and any
Secret volume) renews them in place, and a webhook that kept serving the expired certificate would
fail every call the API server makes, which with `failurePolicy: Fail` refuses every pod. A changed
pair is checked in a scratch context first and only then loaded into the live one, so a half-written
pair (the certificate renewed, the key not yet) never breaks the handshakes; the old pair stays until
the new one is whole. `serve_forever` runs until SIGTERM/SIGINT; tests run the same `WebhookServer` on
a socket they bound themselves (`tests/fixtures/webhook.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import ssl
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from app.webhook.tls import ServingCertificate

GRACEFUL_SHUTDOWN_SECONDS = 5
CERTIFICATE_CHECK_SECONDS = 30.0  # cert-manager renews weeks ahead: a check every 30 s costs nothing

log = logging.getLogger("sigwebhook.server")


def uvicorn_config(app: FastAPI, host: str, port: int, certificate: ServingCertificate) -> uvicorn.Config:
    """uvicorn settings for serving `app` over HTTPS with `certificate`."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certificate.cert_file),
        ssl_keyfile=str(certificate.key_file),
        lifespan="on",
        access_log=False,
        log_config=None,  # keep the process's logging set-up (stderr); stdout is the audit stream
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )


class WebhookServer(uvicorn.Server):
    """uvicorn's server, reloading its certificate and key when their files change."""

    def __init__(
        self,
        config: uvicorn.Config,
        certificate: ServingCertificate,
        check_seconds: float = CERTIFICATE_CHECK_SECONDS,
    ) -> None:
        super().__init__(config)
        self.certificate = certificate
        self.check_seconds = check_seconds
        self.reloads = 0  # certificate pairs loaded since start (for the log and the tests)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.config.loaded:
            self.config.load()  # builds the SSLContext the watch updates
        # The watch runs on the server's event loop, the thread that starts every TLS handshake, so a
        # reload never races a handshake for the context.
        watch = asyncio.create_task(self._watch_certificate())
        try:
            await super().serve(sockets)
        finally:
            watch.cancel()

    async def _watch_certificate(self) -> None:
        seen = _contents(self.certificate)
        while True:
            await asyncio.sleep(self.check_seconds)
            current = _contents(self.certificate)
            if current is None or current == seen:
                continue  # unchanged, or unreadable for a moment (a Secret volume swapping its files)
            if self._reload():
                seen = current

    def _reload(self) -> bool:
        live = self.config.ssl
        if live is None:
            return False
        cert, key = str(self.certificate.cert_file), str(self.certificate.key_file)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)  # whole and matching?
        except (OSError, ssl.SSLError) as exc:
            log.warning("serving certificate changed but does not load yet (%s); keeping the old one", exc)
            return False
        live.load_cert_chain(cert, key)
        self.reloads += 1
        log.info("serving certificate reloaded from %s", cert)
        return True


def _contents(certificate: ServingCertificate) -> bytes | None:
    """A digest of the certificate and key files as they are now; None when one cannot be read."""
    try:
        return b"".join(
            hashlib.sha256(_read(p)).digest() for p in (certificate.cert_file, certificate.key_file)
        )
    except OSError:
        return None


def _read(path: Path) -> bytes:
    return path.read_bytes()


def serve_forever(config: uvicorn.Config, certificate: ServingCertificate) -> bool:
    """Serve until stopped; False when the server could not start (port taken, bad certificate)."""
    server = WebhookServer(config, certificate)
    server.run()
    return server.started
