"""The webhook's ASGI application: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`.

HTTP only: the review itself is `Reviewer`'s. The two review endpoints are answered by a plain ASGI
handler in front of FastAPI (`WebhookApp`): they are what the API server calls for every pod, and
FastAPI's routing, middleware and request objects cost more than a cached decision does. FastAPI
serves the rest (health, readiness, the optional OpenAPI pages, the lifespan). `/healthz` says the process answers; `/readyz` says
the config is loaded, the keys were loaded at least once and the registry client is not broken (the
API server should not be sent to a replica that cannot decide). The OpenAPI pages are off unless asked for. Built by
`create_app`, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app.webhook.review import Reviewer

# The API server caps a request body at 3 MiB (etcd's limit); leave room for the review wrapper.
MAX_BODY_BYTES = 8 * 1024 * 1024
BODY_SECONDS = 10.0  # to receive a whole body (the API server sends it at once)
# Reviews larger than `SMALL_BODY_BYTES` held at once (being received or decided), by their declared
# size: bounds the memory bodies take, however many connections send one. Smaller ones (a pod's
# review is a few KiB) always pass: at most `server.maxConnections` of them, so bounded too.
SMALL_BODY_BYTES = 64 * 1024
BODIES_BUDGET_BYTES = 32 * 1024 * 1024

Review = Callable[[bytes], Awaitable[tuple[int, dict[str, Any]]]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped. The review's strings are echoed back (the uid,
    images and names in `status.message`), and JSON text may carry a lone surrogate that UTF-8 cannot
    encode: Starlette's `JSONResponse` would fail to render it (HTTP 500, an answer the API server's
    `failurePolicy` decides). Escaped, any decoded string renders, and the API server reads the same."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def render_json(content: Any) -> bytes:
    """`content` as compact JSON, every non-ASCII character escaped (see `AsciiJSONResponse`)."""
    return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def create_app(
    reviewer: Reviewer,
    ready: Callable[[], bool] = lambda: True,
    broken: Callable[[], str | None] = lambda: None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    docs: bool = False,
    revision: str | None = None,
) -> WebhookApp:
    """The webhook's ASGI app. `ready` (keys loaded) and `broken` (why the registry client cannot
    work, or None) back `/readyz`; `on_shutdown` closes clients (the registry).
    `revision` (the chart's `SIGWEBHOOK_REVISION`: a digest of the image and config this pod runs) is
    reported by `/readyz`, so the chart's registration gate can tell a new pod from an old one."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for close in on_shutdown:
            await close()

    api = FastAPI(
        title="sigwebhook",
        summary="Admits only pods whose images carry a cosign signature from a trusted key",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=lifespan,
    )

    # Listed for the OpenAPI pages only: `WebhookApp` answers these paths before FastAPI sees them.
    @api.post("/validate")
    async def validate() -> None:
        """Answer an `admission.k8s.io/v1` AdmissionReview: allowed or denied (the gate)."""

    @api.post("/mutate")
    async def mutate() -> None:
        """Answer an `admission.k8s.io/v1` AdmissionReview with a JSON patch pinning verified images
        to their digests (never a deny: `/validate` is the gate)."""

    @api.get("/healthz")
    async def healthz() -> AsciiJSONResponse:
        """The process is alive."""
        return AsciiJSONResponse({"status": "ok"})

    @api.get("/readyz")
    async def readyz() -> AsciiJSONResponse:
        """Config loaded, keys loaded at least once, and the registry client not broken."""
        if not ready():
            return AsciiJSONResponse(
                {"status": "not ready", "reason": "keys not loaded yet"}, status_code=503
            )
        problem = broken()
        if problem is not None:
            return AsciiJSONResponse({"status": "not ready", "reason": problem}, status_code=503)
        return AsciiJSONResponse({"status": "ready", **({"revision": revision} if revision else {})})

    return WebhookApp(api, {"/validate": reviewer.review, "/mutate": reviewer.mutate})


class WebhookApp:
    """ASGI: `POST` on a review path is answered by its `Review` (HTTP 405 for other methods);
    everything else, the lifespan included, goes to `api`."""

    def __init__(self, api: FastAPI, reviews: dict[str, Review]) -> None:
        self.api, self._reviews = api, reviews
        self._budget = _Budget(BODIES_BUDGET_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        review = self._reviews.get(scope["path"]) if scope["type"] == "http" else None
        if review is None:
            await self.api(scope, receive, send)
        elif scope["method"] != "POST":
            await _send_json(send, 405, {"detail": "Method Not Allowed"}, [(b"allow", b"POST")])
        else:
            await self._answer(scope, receive, send, review)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, review: Review) -> None:
        """Send the answer `review` gives for the request's body: HTTP 413 beyond `MAX_BODY_BYTES`,
        408 when the body does not arrive within `BODY_SECONDS`, 503 when the large reviews held
        take the budget; nothing when the client went away before its body was read."""
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        size = int(declared) if declared.isdigit() else MAX_BODY_BYTES
        size = 0 if size <= SMALL_BODY_BYTES else size
        if size > MAX_BODY_BYTES:
            return await _too_large(send)
        if not self._budget.take(size):
            return await _refused(send, 503, "too many large reviews at once, try again")
        try:
            try:
                async with asyncio.timeout(BODY_SECONDS):
                    body = await _body(receive)
            except TimeoutError:
                return await _refused(send, 408, f"request body not received within {BODY_SECONDS:g} s")
            except _Disconnected:
                return None
            if body is None:
                return await _too_large(send)
            status, answer = await review(body)
            await _send_json(send, status, answer)
        finally:
            self._budget.give_back(size)


class _Disconnected(Exception):
    """The client went away before its whole body arrived."""


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None when it is larger than `MAX_BODY_BYTES`."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _Disconnected
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the whole body in one message
        return first if len(first) <= MAX_BODY_BYTES else None
    body = bytearray(first)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def _send_json(
    send: Send, status: int, content: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    data = render_json(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _too_large(send: Send) -> None:
    await _refused(send, 413, f"body larger than {MAX_BODY_BYTES} bytes")


async def _refused(send: Send, status: int, error: str) -> None:
    """An error answer to a request whose body was not read: the connection closes after it."""
    await _send_json(send, status, {"error": error}, [(b"connection", b"close")])


class _Budget:
    """Bytes that may be held at once; `take` says whether `size` more fit now."""

    def __init__(self, total: int) -> None:
        self.total, self.held = total, 0

    def take(self, size: int) -> bool:
        if self.held and self.held + size > self.total:  # a lone review always fits
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size
