"""Plain values the registry transport hands out: a read answer (`Reply`) and request counters (`RequestStats`).

No httpx type leaves the transport; callers see these instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.registry.errors import registry_message
from app.registry.redaction import PATTERNS_ONLY


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers (lower-case names) and the body, read up to a limit. `relay`
    is how its text may be quoted: the transport's `Redactor.relay`, which knows its credentials."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    relay: Callable[[str], str] = field(default=PATTERNS_ONLY.relay, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters (`application/json; charset=utf-8` → `application/json`)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def explain(self) -> str:
        """`404 MANIFEST_UNKNOWN: manifest unknown`, for messages (the registry's text relayed)."""
        message = registry_message(self.body)
        return f"{self.status} {self.relay(message)}" if message else str(self.status)


@dataclass
class RequestStats:
    """How many HTTP requests were sent, by host and by purpose: `registry`, `token`, and `redirect`
    (a request to another origin the registry sent us to, e.g. a blob CDN; it carries no registry auth)."""

    total: int = 0
    by_host: Counter[str] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    listener: Callable[[str, str], None] | None = field(default=None, compare=False, repr=False)

    @property
    def token_requests(self) -> int:
        return self.by_purpose["token"]

    def count(self, host: str, purpose: str) -> None:
        self.total += 1
        self.by_host[host] += 1
        self.by_purpose[purpose] += 1

    def answered(self, host: str, outcome: str) -> None:
        """Tell `listener` (the webhook's metrics) how one exchange ended: see `outcome_of`."""
        if self.listener is not None:
            self.listener(host, outcome)

    def reset(self) -> None:
        self.total = 0
        self.by_host.clear()
        self.by_purpose.clear()


def outcome_of(status: int) -> str:
    """A bounded name for how an exchange ended: `ok` (2xx), `redirect`, `unauthorized` (401),
    `forbidden`, `not_found`, `rate_limited` (429), `client_error` (other 4xx), `server_error` (5xx).
    The transport adds `timeout` and `error` (no HTTP answer)."""
    if status < 300:
        return "ok"
    if status < 400:
        return "redirect"
    named = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
    return named.get(status, "client_error" if status < 500 else "server_error")
