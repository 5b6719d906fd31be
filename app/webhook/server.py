"""Run the webhook app on uvicorn over TLS.

`uvicorn_config` is the one place the server's options are set (TLS files, host, port, no access
log: the audit line is the record of each review, and uvicorn's own logging goes through ours).
`serve_forever` runs until SIGTERM/SIGINT; tests run the same `uvicorn.Server` on a socket they
bound themselves (`tests/fixtures/webhook.py`).
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from app.webhook.tls import ServingCertificate

GRACEFUL_SHUTDOWN_SECONDS = 5


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


def serve_forever(config: uvicorn.Config) -> bool:
    """Serve until stopped; False when the server could not start (port taken, bad certificate)."""
    server = uvicorn.Server(config)
    server.run()
    return server.started
