"""The distribution API's addressing: `/v2/<name>/<kind>/<reference>` paths, token scopes, and the
errors for answers the spec does not allow.

`RegistryApi.call` turns (registry, path, scope) into one request through `RegistryTransport.request`,
the single choke point for HTTP; this module never sees httpx and interprets no answer itself beyond
naming what went wrong (distribution-spec `spec.md`; token scopes from distribution `docs/spec/auth/scope.md`).
"""

from __future__ import annotations

import urllib.parse
from typing import Unpack

from app.core.digests import Digest
from app.core.errors import InvalidDigest, RegistryProtocolError, RegistryWriteError
from app.core.references import Repository
from app.registry.replies import Reply
from app.registry.settings import RegistrySettings
from app.registry.transport import RegistryTransport, RequestOptions


class RegistryApi:
    """Requests to registries' `/v2/` endpoints, by path, through the one transport."""

    def __init__(self, settings: RegistrySettings, transport: RegistryTransport) -> None:
        self.settings = settings
        self.transport = transport

    async def call(
        self,
        method: str,
        registry: str,
        path: str,
        scope: str | None,
        what: str,
        **options: Unpack[RequestOptions],
    ) -> Reply:
        """Send `method path` to `registry` (its base URL from the settings) and return the answer."""
        url = self.settings.base_url(registry) + path
        return await self.transport.request(method, url, registry=registry, scope=scope, what=what, **options)

    def uploads_url(self, repository: Repository) -> str:
        """`…/v2/<name>/blobs/uploads/`: where upload `Location`s are resolved against."""
        return self.settings.base_url(repository.registry) + path(repository, "blobs", "uploads") + "/"


def path(repository: Repository, kind: str, reference: str) -> str:
    """`/v2/<name>/<kind>/<reference>`, the reference quoted (a tag or `alg:hex`)."""
    return f"/v2/{repository.path}/{kind}/{urllib.parse.quote(reference, safe=':')}"


def pull_scope(repository: Repository) -> str:
    return f"repository:{repository.path}:pull"


def push_scope(repository: Repository) -> str:
    return f"repository:{repository.path}:pull,push"


def parse_digest_header(text: str, registry: str) -> Digest:
    """A `Docker-Content-Digest` value; `RegistryProtocolError` when it is not a valid digest."""
    try:
        return Digest.parse(text.strip())
    except InvalidDigest as exc:
        raise RegistryProtocolError(f"{registry} sent an invalid Docker-Content-Digest") from exc


def declared_size(reply: Reply) -> int:
    """The `Content-Length` of a HEAD answer, or 0 when absent or not plain ASCII digits."""
    text = reply.header("content-length") or ""
    return int(text) if text.isascii() and text.isdigit() else 0


def unexpected(reply: Reply, doing: str) -> RegistryProtocolError:
    return RegistryProtocolError(f"unexpected answer {reply.explain()} when {doing}")


def refused(reply: Reply, doing: str) -> RegistryWriteError:
    return RegistryWriteError(f"the registry refused {doing}: {reply.explain()}")
