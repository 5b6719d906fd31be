"""A fault-injecting HTTP proxy in front of a real (plain-HTTP) test registry.

Requests are forwarded unchanged (the `Host` header too, so the registry's upload `Location` points back
at the proxy) unless a rule matches `"METHOD /path"`. Rules can answer a status or a body, drop the connection,
delay the answer (`delay`: then forward; `rtt`: forward, and answer that long after the request came),
hang up after it, replace or drop a header, flip a byte, truncate, pad or gzip the body, redirect
elsewhere, demand Basic credentials the upstream does not need, or, like a registry that echoes what it
was sent, challenge for credentials and then answer an error whose message quotes the `Authorization`
header, the credential in it (decoded too, for Basic) and the request body, and repeats the header in
its own `X-Echo-Authorization` (`echo_auth`). Every request seen is recorded with its headers and the
times it came and was answered, so tests can check what was (not) sent, and benchmarks which requests
waited for an earlier answer. `connection_delay` holds each new connection that long before its first
request is read (a TCP handshake over a slow link): with a `delay` or `rtt` rule on every request, the
proxy stands for a registry at that round-trip time (`delay` adds the registry's work to it; `rtt`
overlaps them, as a registry on a machine of its own works while answers travel, where here it shares
the CPUs with what is measured). Each client connection has its own upstream connection.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.registry import Credential, RegistrySettings, Timeouts


@dataclass
class Rule:
    """`pattern` is a regex searched in `"METHOD /path?query"`; `kind` says what to do; `times` limits uses."""

    pattern: str
    kind: str
    value: object = None
    times: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    started: float = 0.0  # time.monotonic() when the request was read, and when its answer was sent
    ended: float = 0.0


@dataclass
class FaultProxy:
    """Start with `start()`; `host`/`url` are the proxy's address; `rules` and `seen` may be inspected."""

    upstream: str
    connection_delay: float = 0.0
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0  # accepted so far
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def settings(
        self, *, timeouts: Timeouts | None = None, credentials: dict[str, Credential] | None = None
    ) -> RegistrySettings:
        """Settings that reach the proxy over plain HTTP (it is listed as insecure)."""
        return RegistrySettings.build(
            insecure_registries=[self.host], credentials=credentials, timeouts=timeouts
        )

    def add(self, pattern: str, kind: str, value: object = None, times: int | None = None) -> FaultProxy:
        self.rules.append(Rule(pattern, kind, value, times))
        return self

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.seen.clear()

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # An answer goes out as head, then body: with Nagle's algorithm on, the body waited for
            # the client's delayed ACK (40 ms), a latency no registry has.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy.connections += 1
                if proxy.connection_delay:
                    time.sleep(proxy.connection_delay)

            def finish(self) -> None:
                super().finish()
                upstream = getattr(self, "upstream_connection", None)
                if upstream is not None:
                    upstream.close()

            def do_GET(self) -> None:
                proxy._handle(self)

            do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that time out leave broken pipes behind; that is the point

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _rule_for(self, line: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if re.search(rule.pattern, line) and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items()}
        seen = Seen(handler.command, handler.path, headers, started=time.monotonic())
        with self._lock:
            self.seen.append(seen)
        try:
            self._answer(handler, headers, body)
        finally:
            seen.ended = time.monotonic()

    def _answer(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> None:
        method, path = handler.command, handler.path
        rule = self._rule_for(f"{method} {path}")
        kind = rule.kind if rule else "forward"
        if kind == "close":
            handler.close_connection = True
            return
        if kind == "status":
            assert rule is not None
            status = int(rule.value) if isinstance(rule.value, int) else 500
            return _send(
                handler,
                status,
                {"Content-Type": "application/json"},
                b'{"errors":[{"code":"INJECTED"}]}',
                head=method == "HEAD",
            )
        if kind == "head_body":  # value: status; answered with a body even to HEAD, as a broken server may
            assert rule is not None
            return _send(handler, int(rule.value), {"Content-Type": "text/plain"}, b"an error body")  # type: ignore[call-overload]
        if kind == "body":  # value: (media type, bytes) or (media type, bytes, status)
            assert isinstance(rule, Rule) and isinstance(rule.value, tuple)
            media_type, data, *status_given = rule.value
            code = status_given[0] if status_given else 200
            return _send(handler, code, {"Content-Type": media_type}, data, head=method == "HEAD")
        if kind == "redirect":
            assert rule is not None
            return _send(handler, 307, {"Location": f"{rule.value}{path}"}, b"")
        if kind == "echo_auth":  # value: (WWW-Authenticate challenge, status of the echoing answer)
            assert rule is not None and isinstance(rule.value, tuple)
            challenge, echo_status = rule.value
            sent = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
            if sent is None and challenge:
                return _send(handler, 401, {"WWW-Authenticate": challenge}, b"")
            echoed = {"Content-Type": "application/json", "X-Echo-Authorization": sent or ""}
            return _send(handler, echo_status, echoed, _echo(sent or "", body), head=method == "HEAD")
        if kind == "require_basic":
            assert rule is not None
            if headers.get("Authorization") != rule.value:
                return _send(handler, 401, {"WWW-Authenticate": 'Basic realm="fault-proxy"'}, b"")
            headers.pop("Authorization")
        if kind == "delay":
            assert rule is not None
            time.sleep(float(rule.value))  # type: ignore[arg-type]
        if kind == "forward_as":
            assert rule is not None
            path = str(rule.value)
        arrived = time.monotonic()
        status, answer_headers, answer = self._forward(handler, method, path, headers, body)
        if kind == "rtt":  # the answer leaves one round trip after the request came, or when it is ready
            assert rule is not None
            time.sleep(max(0.0, arrived + float(rule.value) - time.monotonic()))  # type: ignore[arg-type]
        answer_headers = self._alter(rule, method, answer_headers, answer)
        if kind == "tamper" and answer:
            answer = answer[:-1] + bytes([answer[-1] ^ 1])
        if kind == "pad":
            assert rule is not None
            answer += b" " * int(rule.value)  # type: ignore[call-overload]
            answer_headers["Content-Length"] = str(len(answer))
        if kind == "gzip":  # an encoding the client did not accept (it asks for identity)
            answer = gzip.compress(answer, mtime=0)
            answer_headers["Content-Encoding"] = "gzip"
            answer_headers["Content-Length"] = str(len(answer))
        if kind == "truncate":
            assert rule is not None
            _send(handler, status, answer_headers, answer[: int(rule.value)])  # type: ignore[call-overload]
            handler.close_connection = True
            return
        _send(handler, status, answer_headers, answer, head=method == "HEAD")
        if kind == "hang_up":  # a whole answer, then the connection closed (a server's idle timeout)
            handler.close_connection = True

    def _forward(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Forward on the upstream connection of `handler`'s client connection, opened on first use and
        once more if the registry closed it: a connection per request made the proxy itself the slowest
        part of a benchmark that sends many requests at once."""
        forwarded = {k: v for k, v in headers.items() if k.lower() not in ("connection", "accept-encoding")}
        for attempt in (1, 2):
            conn: http.client.HTTPConnection | None = getattr(handler, "upstream_connection", None)
            if conn is None:
                conn = http.client.HTTPConnection(self.upstream, timeout=30)
                handler.upstream_connection = conn  # type: ignore[attr-defined]
            try:
                conn.request(method, path, body=body or None, headers=forwarded)
                response = conn.getresponse()
                answer = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                conn.close()
                handler.upstream_connection = None  # type: ignore[attr-defined]
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                conn.close()
                handler.upstream_connection = None  # type: ignore[attr-defined]
            out = {
                k: v for k, v in response.getheaders() if k.lower() not in ("connection", "transfer-encoding")
            }
            if method != "HEAD":
                out["Content-Length"] = str(len(answer))
            return response.status, out, answer
        raise AssertionError("unreachable")

    def _alter(
        self, rule: Rule | None, method: str, headers: dict[str, str], answer: bytes
    ) -> dict[str, str]:
        if rule is None:
            return headers
        if rule.kind == "digest_header":
            headers = {k: v for k, v in headers.items() if k.lower() != "docker-content-digest"}
            headers["Docker-Content-Digest"] = str(rule.value)
        if rule.kind == "drop_header":
            headers = {k: v for k, v in headers.items() if k.lower() != str(rule.value).lower()}
        return headers


def _echo(authorization: str, body: bytes) -> bytes:
    """A distribution error body whose message quotes everything the client sent to authenticate,
    secrets first (messages are shortened when relayed): the credential alone, decoded (Basic), a
    refresh token from a form body, then the whole body and the header line."""
    scheme, _, credential = authorization.partition(" ")
    form = urllib.parse.parse_qs(body.decode(errors="replace"))
    shown = [credential, *form.get("refresh_token", [])]
    if scheme.lower() == "basic":
        shown.append(base64.b64decode(credential).decode(errors="replace"))
    message = (
        f"{' '.join(s for s in shown if s)} denied; body {body.decode(errors='replace')}\n"
        f"Authorization: {authorization}"
    )
    return json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()


def _send(
    handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, head: bool = False
) -> None:
    try:
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "date", "server"):
                handler.send_header(name, value)
        declared = headers.get("Content-Length") or headers.get("content-length")
        handler.send_header("Content-Length", declared or str(len(body)))
        handler.end_headers()
        if not head and body:
            handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True
