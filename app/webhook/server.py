"""Run the webhook app on uvicorn over TLS, picking up a renewed serving certificate without a restart.

`uvicorn_config` is the one place the server's options are set (TLS files, host, port, no access
log: the audit line is the record of each review, and uvicorn's own logging goes through ours; a
graceful shutdown that outlasts the review deadline, so SIGTERM answers every review in flight).
Connections are accepted by `app.webhook.listener` (bounded, and each given limited time).
`WebhookServer` is uvicorn's server plus a watch on the certificate files: cert-manager (and any
Secret volume) renews them in place, and a webhook that kept serving the expired certificate would
fail every call the API server makes, which with `failurePolicy: Fail` refuses every pod. A changed
pair is loaded into a new context, which handshakes then switch to (`sni_callback`); a half-written
pair (the certificate renewed, the key not yet) fails to load there and the old pair keeps serving,
and a renewal to another key type leaves no stale certificate behind. `serve_forever` runs until
SIGTERM/SIGINT; tests run the same `WebhookServer` on a socket they bound themselves
(`tests/fixtures/webhook.py`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import cast

import uvicorn
from fastapi import FastAPI

from app.webhook.listener import HEAD_SECONDS, BoundedListener, timed_protocol
from app.webhook.tls import ServingCertificate

CERTIFICATE_CHECK_SECONDS = 30.0  # cert-manager renews weeks ahead: a check every 30 s costs nothing
DEFAULT_MAX_CONNECTIONS = 256
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
# At SIGTERM, reviews in flight are answered: each takes at most its deadline plus the reviewer's
# grace (`app.webhook.review`); this is the margin beyond the deadline before uvicorn cancels them.
SHUTDOWN_MARGIN_SECONDS = 2.0

log = logging.getLogger("sigwebhook.server")


def uvicorn_config(
    app: FastAPI,
    host: str,
    port: int,
    certificate: ServingCertificate,
    deadline_seconds: float,
    loop: str = "auto",
    http: str = "auto",
) -> uvicorn.Config:
    """uvicorn settings for serving `app` over HTTPS with `certificate`; at shutdown, reviews in flight
    get `deadline_seconds` and a margin to be answered. `loop` and `http` are uvicorn's choices of
    event loop and HTTP parser (`auto`: uvloop and httptools when installed)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=http,
        ssl_certfile=str(certificate.cert_file),
        ssl_keyfile=str(certificate.key_file),
        lifespan="on",
        access_log=False,
        log_config=None,  # keep the process's logging set-up (stderr); stdout is the audit stream
        timeout_graceful_shutdown=deadline_seconds + SHUTDOWN_MARGIN_SECONDS,  # type: ignore[arg-type]
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        # The API server connects directly and nothing here uses the client's address: no
        # X-Forwarded-* rewriting (a middleware on every request).
        proxy_headers=False,
    )


class WebhookServer(uvicorn.Server):
    """uvicorn's server, serving a renewed certificate and key as soon as their files change, and
    accepting at most `max_connections` connections at a time (`app.webhook.listener`)."""

    def __init__(
        self,
        config: uvicorn.Config,
        certificate: ServingCertificate,
        check_seconds: float = CERTIFICATE_CHECK_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        super().__init__(config)
        self.certificate = certificate
        self.check_seconds = check_seconds
        self.max_connections = max_connections
        self.reloads = 0  # certificate pairs loaded since start (for the log and the tests)
        self._serving: ssl.SSLContext | None = None  # the context new handshakes switch to

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.config.loaded:
            self.config.load()  # builds the SSLContext the listening socket keeps
        if self.config.ssl is not None:
            # The listening socket keeps the context it was started with; every handshake calls this
            # (with or without SNI) and moves to the newest context. A renewed pair is loaded into a
            # new context, never into the live one, so a failed load cannot break serving.
            self.config.ssl.sni_callback = self._switch
        watch = asyncio.create_task(self._watch_certificate())
        try:
            await super().serve(sockets)
        finally:
            watch.cancel()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up without its listeners; a `BoundedListener` per socket instead."""
        if sockets is None:
            try:
                sockets = [_bound(self.config)]
            except OSError as exc:
                log.error("cannot listen on %s:%s: %s", self.config.host, self.config.port, exc)
                self.should_exit = True
                return
        for sock in sockets:
            # Listening before uvicorn says `started`: a client told so is queued until the first
            # accept, never refused (the window between the two made the test fixtures flaky).
            sock.listen(self.config.backlog)
        await super().startup(sockets=[])
        if not self.started:
            return
        config, loop = self.config, asyncio.get_running_loop()
        protocol_class = timed_protocol(config.http_protocol_class)

        def protocol(ended: Callable[[], None]) -> asyncio.Protocol:
            made = protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop
            )
            made.ended, made.head_seconds = ended, HEAD_SECONDS  # type: ignore[attr-defined]
            return made

        for sock in sockets:
            listener = BoundedListener(sock, protocol, config.ssl, self.max_connections)
            listener.start()
            self.servers.append(cast(asyncio.base_events.Server, listener))  # closed by uvicorn's shutdown
        log.info("listening on https://%s:%s", config.host, sockets[0].getsockname()[1])

    def _switch(self, connection: ssl.SSLObject, _name: str | None, _context: ssl.SSLContext) -> None:
        serving = self._serving
        if serving is not None:
            connection.context = serving

    async def _watch_certificate(self) -> None:
        seen = _contents(self.certificate)
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                current = _contents(self.certificate)
                if current is None or current == seen:
                    continue  # unchanged, or unreadable for a moment (a Secret volume swapping files)
                if self._reload():
                    seen = current
            except Exception:  # the watch must outlive any surprise: the old pair keeps serving
                log.exception("checking the serving certificate failed; keeping the current one")

    def _reload(self) -> bool:
        """Load the files into a new context; serve it only when the pair loaded whole."""
        config = self.config
        try:
            fresh = uvicorn.config.create_ssl_context(
                certfile=str(self.certificate.cert_file),
                keyfile=str(self.certificate.key_file),
                password=config.ssl_keyfile_password,
                ssl_version=config.ssl_version,
                cert_reqs=config.ssl_cert_reqs,
                ca_certs=config.ssl_ca_certs,
                ciphers=config.ssl_ciphers,
            )
        except (OSError, ssl.SSLError) as exc:  # half written (a new certificate beside the old key)
            log.warning("serving certificate changed but does not load yet (%s); keeping the old one", exc)
            return False
        self._serving = fresh
        self.reloads += 1
        log.info("serving certificate reloaded from %s", self.certificate.cert_file)
        return True


def _bound(config: uvicorn.Config) -> socket.socket:
    """A socket bound to the configured host and port (listening is the listener's job)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))
    except OSError:
        sock.close()
        raise
    return sock


def _contents(certificate: ServingCertificate) -> tuple[bytes, bytes] | None:
    """The certificate and key files as they are now (a few KB); None when one cannot be read."""
    try:
        return certificate.cert_file.read_bytes(), certificate.key_file.read_bytes()
    except OSError:
        return None


def serve_forever(
    config: uvicorn.Config, certificate: ServingCertificate, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> bool:
    """Serve until stopped; False when the server could not start (port taken, bad certificate)."""
    server = WebhookServer(config, certificate, max_connections=max_connections)
    server.run()
    return server.started
