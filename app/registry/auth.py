"""Registry authentication: Basic, and the Bearer token flow of the distribution token spec.

A registry answers 401 with `WWW-Authenticate` (`Basic realm=…`, or `Bearer realm=…,service=…,scope=…`;
distribution `docs/spec/auth/token.md`). For Bearer we ask the realm for a token for
`repository:<path>:pull` (or `pull,push`), with Basic credentials when configured, or as an OAuth2
`refresh_token` grant when the Docker config holds an `identitytoken` (`docs/spec/auth/oauth.md`).
Tokens are cached per (registry, scope) until `expires_in` (default 60 s) runs out, on the injected clock.
Once a registry's scheme is known, later requests send credentials up front (no extra 401 round trip).
Credentials are sent only to the registry's own origin and its token realm, and a plain-HTTP realm is
used only when it is listed as insecure. No message here contains a password or a token.
"""

from __future__ import annotations

import asyncio
import base64
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from app.core import strictjson
from app.core.errors import RegistryAuthError, RegistryProtocolError
from app.core.ports import Clock
from app.registry.credentials import Credential, normalize_host
from app.registry.redaction import Redactor
from app.registry.replies import Reply
from app.registry.settings import RegistrySettings

# (method, url, headers, body) -> Reply: the transport's request path, without registry auth.
TokenFetch = Callable[[str, str, Mapping[str, str], bytes | None], Awaitable[Reply]]

DEFAULT_TOKEN_SECONDS = 60  # token spec: "When omitted, this defaults to 60 seconds"
MAX_CACHED_TOKENS = 1024  # scopes whose tokens are kept before expired ones are dropped
_TOKEN = re.compile(r"[\x21-\x7e]+")
_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` challenge: the scheme (lower-case) and its parameters."""

    scheme: str
    params: Mapping[str, str]


def parse_challenge(header: str | None) -> Challenge | None:
    """`Bearer realm="…",service="…"` → Challenge('bearer', {...}); None when absent or unparsable."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def basic_header(credential: Credential) -> str:
    raw = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Authenticator:
    """Remembers each registry's challenge and caches its tokens; builds the `Authorization` to send."""

    def __init__(self, settings: RegistrySettings, clock: Clock, fetch: TokenFetch) -> None:
        self._settings = settings
        self._clock = clock
        self._fetch = fetch
        # How registry text is quoted: without what may be sent to authenticate (`app.registry.redaction`).
        self.redactor = Redactor(lambda: settings.credentials.values(), self.tokens)
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def header_for(self, registry: str, scope: str | None) -> str | None:
        """The `Authorization` to send up front, or None while the registry's scheme is unknown."""
        challenge = self._challenges.get(registry)
        credential = self._settings.credential_for(registry)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return basic_header(credential) if credential is not None and credential.has_basic else None
        if challenge.scheme == "bearer":
            return await self._bearer(registry, challenge, scope, stale=None)
        return None

    async def answer(
        self, registry: str, scope: str | None, reply: Reply, sent: str | None, what: str
    ) -> str:
        """The `Authorization` to retry with after a 401 `reply`; raises `RegistryAuthError` when there is none."""
        challenge = parse_challenge(reply.header("www-authenticate"))
        if challenge is None:
            raise RegistryAuthError(f"{registry} refused {what} (401) without saying how to authenticate")
        self._challenges[registry] = challenge
        credential = self._settings.credential_for(registry)
        if challenge.scheme == "basic":
            if credential is None or not credential.has_basic:
                raise self.no_credentials(registry)
            header = basic_header(credential)
            if sent == header:
                raise self.rejected(registry, what)
            return header
        if challenge.scheme == "bearer":
            return await self._bearer(registry, challenge, scope, stale=sent)
        raise RegistryAuthError(
            f"{registry} asks for the unsupported authentication scheme {self.redactor.relay(challenge.scheme)!r}"
        )

    def tokens(self) -> tuple[str, ...]:
        """The tokens held now (for redaction: they must never be quoted back)."""
        return tuple(token for token, _ in self._tokens.values())

    def no_credentials(self, registry: str) -> RegistryAuthError:
        return RegistryAuthError(
            f"{registry} requires authentication and no credentials are configured for it"
        )

    def rejected(self, registry: str, what: str) -> RegistryAuthError:
        """The error for a 401 that persists after we authenticated."""
        credential = self._settings.credential_for(registry)
        if credential is None:
            return self.no_credentials(registry)
        return RegistryAuthError(
            f"{registry} did not accept the credentials configured for it ({_who(credential)}) for {what}"
        )

    def forbidden(self, registry: str, what: str) -> RegistryAuthError:
        credential = self._settings.credential_for(registry)
        suffix = f" for {_who(credential)}" if credential else "; no credentials are configured for it"
        return RegistryAuthError(f"{registry} denied access to {what} (403 Forbidden){suffix}")

    async def _bearer(
        self, registry: str, challenge: Challenge, scope: str | None, *, stale: str | None
    ) -> str:
        """A token for (registry, scope): the cached one unless it expired or is `stale` (just refused)."""
        key = (registry, scope or "")
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent requests for one scope share one token request
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > self._clock.monotonic() and f"Bearer {cached[0]}" != stale:
                return f"Bearer {cached[0]}"
            self._tokens.pop(key, None)
            token, lifetime = await self._fetch_token(registry, challenge, scope)
            margin = min(5.0, lifetime / 10)
            self._forget_expired()
            self._tokens[key] = (token, self._clock.monotonic() + lifetime - margin)
            return f"Bearer {token}"

    def _forget_expired(self) -> None:
        """Keep the cache bounded in a long-running webhook: past `MAX_CACHED_TOKENS` scopes, drop the
        expired tokens, then the oldest down to half the bound, and the locks nobody holds (a scope per
        repository: pods can name many). Runs only when the bound is reached, so rarely."""
        if len(self._tokens) < MAX_CACHED_TOKENS and len(self._locks) < MAX_CACHED_TOKENS:
            return
        now = self._clock.monotonic()
        for key in [k for k, (_, expires) in self._tokens.items() if expires <= now]:
            del self._tokens[key]
        # still full of live tokens (long lifetimes): forget the oldest half, they are fetched again
        for key in list(self._tokens)[: max(0, len(self._tokens) - MAX_CACHED_TOKENS // 2)]:
            del self._tokens[key]
        for key in [k for k, lock in self._locks.items() if not lock.locked() and k not in self._tokens]:
            del self._locks[key]

    async def _fetch_token(self, registry: str, challenge: Challenge, scope: str | None) -> tuple[str, float]:
        realm = challenge.params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryProtocolError(f"{registry} named an unusable token realm in its Bearer challenge")
        realm_host = normalize_host(parts.netloc, what="token realm")
        if parts.scheme == "http" and not self._settings.is_insecure(realm_host):
            raise RegistryAuthError(
                f"the token service of {registry} ({realm_host}) uses plain HTTP; "
                f"list {realm_host} with --insecure-registry (webhook: registries.insecure) to allow it"
            )
        fields = [("service", challenge.params["service"])] if "service" in challenge.params else []
        wanted = scope or challenge.params.get("scope")
        if wanted:
            fields.append(("scope", wanted))
        credential = self._settings.credential_for(registry)
        headers: dict[str, str] = {"Accept": "application/json"}
        if credential is not None and credential.identity_token:
            fields += [("grant_type", "refresh_token"), ("refresh_token", credential.identity_token)]
            fields.append(("client_id", "sigwebhook"))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            reply = await self._fetch("POST", realm, headers, urllib.parse.urlencode(fields).encode())
        else:
            if credential is not None and credential.has_basic:
                headers["Authorization"] = basic_header(credential)
            separator = "&" if parts.query else "?"
            url = f"{realm}{separator}{urllib.parse.urlencode(fields)}" if fields else realm
            reply = await self._fetch("GET", url, headers, None)
        if reply.status in (401, 403):
            if credential is None:
                raise self.no_credentials(registry)
            raise RegistryAuthError(
                f"the token service of {registry} rejected the credentials configured for it ({_who(credential)})"
            )
        if reply.status != 200:
            raise RegistryProtocolError(f"the token service of {registry} answered {reply.explain()}")
        return parse_token_answer(reply.body, registry)


def parse_token_answer(body: bytes, registry: str) -> tuple[str, float]:
    """The token and its lifetime in seconds from a token service answer (token spec "Token Response Fields")."""
    try:
        document = strictjson.loads(body)
    except ValueError as exc:
        raise RegistryProtocolError(f"the token service of {registry} did not answer JSON") from exc
    token = document.get("token") or document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryProtocolError(f"the token service of {registry} answered without a token")
    if not _TOKEN.fullmatch(token):  # it becomes a header value: printable ASCII only
        raise RegistryProtocolError(f"the token service of {registry} answered with a malformed token")
    expires = document.get("expires_in")
    lifetime = float(expires) if isinstance(expires, int | float) and expires > 0 else DEFAULT_TOKEN_SECONDS
    return token, lifetime


def _who(credential: Credential) -> str:
    return f"user {credential.username!r}" if credential.username else "identity token"
