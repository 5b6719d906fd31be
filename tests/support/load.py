"""Load for the reliability tests and the load benchmark: many signed images fast, many reviews at once.

`push_signed_images` fills a registry with `count` distinct images (one shared layer and config, one
manifest each, told apart by an annotation) and signs them with sigwebhook's own signer in this process,
cosign v2 `.sig` or (every `bundle_every`-th) a cosign v3 bundle: hundreds of images in seconds, where
skopeo and a CLI run per image would take minutes. `post_reviews` sends AdmissionReviews over HTTPS
all at once, each on its own connection, as a busy API server does, and times each answer;
`start_flood` keeps connections busy with one review until told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.core.formats.layouts import EMPTY_CONFIG, EMPTY_MEDIA_TYPE
from app.core.ports import OCI_MANIFEST, Descriptor
from app.core.references import parse_reference
from app.registry import OciRegistry, RegistrySettings
from app.signing.signer import sign_image
from app.signing.signingkey import load_signing_key
from tests.support.oci_layout import OCI_CONFIG, OCI_LAYER_GZIP, build_image

PUSH_CONCURRENCY = 64


async def push_signed_images(
    settings: RegistrySettings,
    host: str,
    repository: str,
    count: int,
    key_file: Path | None,
    password: str = "",
    bundle_every: int = 0,
    by_digest: bool = False,
) -> list[str]:
    """`count` images `host/repository:N` (0 ≤ N < count), each signed with `key_file` (unsigned when
    None): a cosign v3 bundle for every `bundle_every`-th (0: none), cosign v2 for the others.
    `by_digest`: named `host/repository@sha256:…` instead."""
    base = build_image(b"load-test layer")
    key = load_signing_key(key_file, lambda: password.encode()) if key_file is not None else None
    gate = asyncio.Semaphore(PUSH_CONCURRENCY)
    async with OciRegistry(settings) as registry:
        repo = parse_reference(f"{host}/{repository}:0").repository
        config = await registry.push_blob(repo, base.config, OCI_CONFIG)
        layer = await registry.push_blob(repo, base.layer, OCI_LAYER_GZIP)
        if key is not None and bundle_every > 0:
            # Every bundle manifest names the empty config: pushed once here, since docker-registry
            # answers 500 to a HEAD of a blob that concurrent uploads are still linking.
            await registry.push_blob(repo, EMPTY_CONFIG, EMPTY_MEDIA_TYPE)

        async def one(number: int) -> str:
            image = f"{host}/{repository}:{number}"
            async with gate:
                manifest = _manifest(config, layer, number)
                digest = await registry.push_manifest(repo, manifest, OCI_MANIFEST, str(number))
                if key is not None:
                    bundle = bundle_every > 0 and number % bundle_every == 0
                    await sign_image(registry, parse_reference(image), key, bundle=bundle)
            return f"{host}/{repository}@{digest}" if by_digest else image

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def _manifest(config: Descriptor, layer: Descriptor, number: int) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": str(config.digest), "size": config.size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": str(layer.digest), "size": layer.size}],
        "annotations": {"dev.sigwebhook.test.number": str(number)},
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Answer:
    """One review's answer: HTTP status (0: no answer), allowed, the deny message, seconds taken."""

    status: int
    allowed: bool | None
    message: str
    seconds: float


async def post_reviews(
    url: str, ca_file: Path, bodies: Sequence[dict[str, Any]], timeout: float = 30.0, path: str = "/validate"
) -> list[Answer]:
    """POST every body at the same time, each on a connection of its own; the answers in order."""
    context = ssl.create_default_context(cafile=str(ca_file))
    limits = httpx.Limits(max_connections=len(bodies) or 1, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, verify=context, timeout=timeout, limits=limits) as client:
        return list(await asyncio.gather(*(_post(client, body, path) for body in bodies)))


async def _post(client: httpx.AsyncClient, body: dict[str, Any], path: str) -> Answer:
    started = time.monotonic()
    try:
        response = await client.post(path, content=json.dumps(body).encode())
    except httpx.HTTPError as error:
        return Answer(0, None, f"{type(error).__name__}: {error}", time.monotonic() - started)
    seconds = time.monotonic() - started
    try:
        answer = response.json().get("response", {})
    except ValueError:
        answer = {}
    message = (answer.get("status") or {}).get("message", "") or response.text[:200]
    return Answer(response.status_code, answer.get("allowed"), message, seconds)


def start_flood(url: str, ca_file: Path, body: dict[str, Any], connections: int) -> Callable[[], None]:
    """Send `body` over `connections` connections, each again as soon as it is answered, until the
    returned function is called (it waits for the flood to end)."""
    stop = threading.Event()

    async def connection() -> None:
        while not stop.is_set():
            await post_reviews(url, ca_file, [body])

    async def flood() -> None:
        await asyncio.gather(*(connection() for _ in range(connections)))

    thread = threading.Thread(target=lambda: asyncio.run(flood()), name="flood", daemon=True)
    thread.start()

    def stop_flood() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_flood


@contextlib.contextmanager
def closing(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    """`sockets` (more may be added in the block), all closed when the block ends."""
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` (0-1) percentile of `values` (nearest rank), 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
