"""Push blobs and manifests (the `RegistryWriter` port's writes), as `sigwebhook sign` needs them.

OCI distribution spec "Pushing blobs": `HEAD /v2/<name>/blobs/<digest>` (skip what exists), then a
monolithic upload, `POST /v2/<name>/blobs/uploads/` and `PUT <Location>?digest=<digest>` with the bytes;
"Pushing Manifests": `PUT /v2/<name>/manifests/<tag or digest>`. The registry's answer must name the digest
we computed; anything else is a `RegistryWriteError` or `RegistryProtocolError`. Writes only: no reads
beyond the existence check, and nothing is signed here.
"""

from __future__ import annotations

import urllib.parse

from app.core.digests import Digest
from app.core.errors import RegistryProtocolError
from app.core.ports import Descriptor
from app.core.references import Repository
from app.registry.api import RegistryApi, parse_digest_header, path, push_scope, refused


async def push_blob(api: RegistryApi, repository: Repository, data: bytes, media_type: str) -> Descriptor:
    """Upload `data` monolithically (POST, then PUT `?digest=`), skipped when the blob already exists."""
    digest = Digest.of(data)
    descriptor = Descriptor(media_type, digest, len(data))
    what = f"blob {digest.short()} to {repository}"
    scope = push_scope(repository)
    head = await api.call("HEAD", repository.registry, path(repository, "blobs", str(digest)), scope, what)
    if head.status == 200:
        return descriptor
    started = await api.call(
        "POST", repository.registry, path(repository, "blobs", "uploads") + "/", scope, what
    )
    location = started.header("location")
    if started.status != 202 or not location:
        raise refused(started, f"starting the upload of {what}")
    url = _with_query(urllib.parse.urljoin(api.uploads_url(repository), location), "digest", str(digest))
    done = await api.transport.request(
        "PUT", url, registry=repository.registry, scope=scope, what=what, content=data,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    if done.status != 201:
        raise refused(done, f"uploading {what}")
    return descriptor


async def push_manifest(
    api: RegistryApi, repository: Repository, data: bytes, media_type: str, tag: str | None
) -> Digest:
    """PUT a manifest at `tag`, or at its own digest when `tag` is None; returns the digest."""
    digest = Digest.of(data)
    reference = tag if tag is not None else str(digest)
    what = f"manifest {repository}{':' if tag else '@'}{reference}"
    reply = await api.call(
        "PUT", repository.registry, path(repository, "manifests", reference), push_scope(repository), what,
        headers={"Content-Type": media_type}, content=data,
    )  # fmt: skip
    if reply.status != 201:
        raise refused(reply, f"pushing {what}")
    stored = reply.header("docker-content-digest")
    if stored and parse_digest_header(stored, repository.registry) != digest:
        raise RegistryProtocolError(f"{repository.registry} stored {what} under another digest ({stored})")
    return digest


def _with_query(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query, keep_blank_values=True), (name, value)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
