"""The FastAPI application: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`.

HTTP only: the review itself is `Reviewer`'s. `/healthz` says the process answers; `/readyz` says
the config is loaded, the keys were loaded at least once and the registry client is not broken (the
API server should not be sent to a replica that cannot decide). The OpenAPI pages are off unless asked for. Built by
`create_app`, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
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


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped. The review's strings are echoed back (the uid,
    images and names in `status.message`), and JSON text may carry a lone surrogate that UTF-8 cannot
    encode: Starlette's `JSONResponse` would fail to render it (HTTP 500, an answer the API server's
    `failurePolicy` decides). Escaped, any decoded string renders, and the API server reads the same."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def create_app(
    reviewer: Reviewer,
    ready: Callable[[], bool] = lambda: True,
    broken: Callable[[], str | None] = lambda: None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    docs: bool = False,
    revision: str | None = None,
) -> FastAPI:
    """The webhook's ASGI app. `ready` (keys loaded) and `broken` (why the registry client cannot
    work, or None) back `/readyz`; `on_shutdown` closes clients (the registry).
    `revision` (the chart's `SIGWEBHOOK_REVISION`: a digest of the image and config this pod runs) is
    reported by `/readyz`, so the chart's registration gate can tell a new pod from an old one."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for close in on_shutdown:
            await close()

    app = FastAPI(
        title="sigwebhook",
        summary="Admits only pods whose images carry a cosign signature from a trusted key",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=lifespan,
    )

    budget = _Budget(BODIES_BUDGET_BYTES)

    @app.post("/validate")
    async def validate(request: Request) -> AsciiJSONResponse:
        """Answer an `admission.k8s.io/v1` AdmissionReview: allowed or denied (the gate)."""
        return await _answer(request, reviewer.review, budget)

    @app.post("/mutate")
    async def mutate(request: Request) -> AsciiJSONResponse:
        """Answer an `admission.k8s.io/v1` AdmissionReview with a JSON patch pinning verified images
        to their digests (never a deny: `/validate` is the gate)."""
        return await _answer(request, reviewer.mutate, budget)

    @app.get("/healthz")
    async def healthz() -> AsciiJSONResponse:
        """The process is alive."""
        return AsciiJSONResponse({"status": "ok"})

    @app.get("/readyz")
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

    return app


async def _answer(
    request: Request, review: Callable[[bytes], Awaitable[tuple[int, dict[str, Any]]]], budget: _Budget
) -> AsciiJSONResponse:
    """The response `review` gives for the request's body: HTTP 413 beyond `MAX_BODY_BYTES`, 408 when
    the body does not arrive within `BODY_SECONDS`, 503 when the large reviews held take the budget."""
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isascii() and declared.isdigit() else MAX_BODY_BYTES
    size = 0 if size <= SMALL_BODY_BYTES else size
    if size > MAX_BODY_BYTES:
        return _too_large()
    if not budget.take(size):
        return _refused(503, "too many large reviews at once, try again")
    try:
        try:
            async with asyncio.timeout(BODY_SECONDS):
                body = await _body(request)
        except TimeoutError:
            return _refused(408, f"request body not received within {BODY_SECONDS:g} s")
        if body is None:
            return _too_large()
        status, answer = await review(body)
        return AsciiJSONResponse(answer, status_code=status)
    finally:
        budget.give_back(size)


def _too_large() -> AsciiJSONResponse:
    return _refused(413, f"body larger than {MAX_BODY_BYTES} bytes")


def _refused(status: int, error: str) -> AsciiJSONResponse:
    """An error answer to a request whose body was not read: the connection closes after it."""
    return AsciiJSONResponse({"error": error}, status_code=status, headers={"Connection": "close"})


async def _body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than `MAX_BODY_BYTES`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


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
