"""`MetricsServer`: `GET /metrics` in the Prometheus text format, plain HTTP, on a port of its own.

A background part of the webhook (`start()` / `stop()`, like the Secret watchers): prometheus_client's
WSGI server on a daemon thread, serving only the `CollectorRegistry` it is given. It is deliberately
not on the admission port: the API server talks TLS to 8443, Prometheus scrapes plain HTTP here, and
a NetworkPolicy can treat the two differently. Port 0 picks a free port (`port` tells which). A port
that cannot be bound stops start-up with a `ConfigError` naming `metrics.port`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from app.core.errors import ConfigError

log = logging.getLogger("sigwebhook.webhook.metrics")


class MetricsServer:
    """Serves `registry` on `host:port` between `start()` and `stop()`."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry, self._host, self._port = registry, host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the configured one, or the one picked for port 0)."""
        return int(self._server.server_port) if self._server is not None else self._port

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self._host in ("0.0.0.0", "::", "") else self._host
        return f"http://{shown}:{self.port}/metrics"

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server, self._thread = start_http_server(self._port, self._host, self._registry)
        except OSError as exc:
            raise ConfigError(
                f"metrics.port: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from exc
        log.info("metrics on %s", self.url)

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
