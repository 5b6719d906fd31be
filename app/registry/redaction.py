"""Registry text relayed to people: credentials and tokens taken out, length bounded.

What a registry says ends up where the webhook's own text goes: an error body's message, the scheme
of a `WWW-Authenticate` challenge, a `Location` or `Content-Encoding` quoted in a complaint, and the
text of an HTTP library exception (which can quote a malformed header line) reach deny messages (read
by whoever created the pod), audit lines and logs. A registry, or a proxy in front of it, that echoes
the request's `Authorization` header would put the pull credential there.

`Redactor.relay` is how such text leaves the registry adapter. It removes, whatever the registry
wrote around them:

- every credential the transport may send: the configured passwords and identity tokens, the
  base64 `user:password` of Basic auth, the tokens the token services issued (and their URL- and
  JSON-escaped spellings), compared without case; configured usernames as whole words;
- what looks like one without being configured: an `Authorization:` header line, `Basic` and
  `Bearer` values, JWTs (`eyJ….….…`), and `password=` / `token: …` style fields;

then writes it on one printable line and cuts it to `MAX_RELAYED_CHARS` (a log `detail` gets
`MAX_DETAIL_CHARS`). Redaction comes first, so a cut never leaves half a secret. Pure string work: it
never logs what it removed.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable

from app.registry.credentials import Credential

MAX_RELAYED_CHARS = 200  # registry text in a reason (a deny line, the audit record)
MAX_DETAIL_CHARS = 1000  # registry text in a log detail
REDACTED = "[redacted]"
_MIN_USERNAME = 3  # shorter usernames are not redacted as words: "a" would blank every "a"

_AUTHORIZATION = re.compile(r"\b((?:proxy-)?authorization)\b([\"']?\s*[:=]\s*)[^\r\n]*", re.IGNORECASE)
# token68 (RFC 9110 §11.2) after a scheme: at least 8 characters and not a plain lower-case word.
_SCHEME_VALUE = re.compile(r"\b(basic|bearer)(\s+)(?![a-z]+\b)[A-Za-z0-9+/=._~-]{8,}", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?")
_SECRET_FIELD = re.compile(
    r"\b((?:access_|refresh_|id_)?token|password|passwd|secret|client_secret|identitytoken|auth)\b"
    r"([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}\]]+",
    re.IGNORECASE,
)


class Redactor:
    """Removes the credentials `credentials()` and `tokens()` name (read at each call: credentials
    rotate, tokens expire) and anything shaped like a credential from registry text."""

    def __init__(
        self,
        credentials: Callable[[], Iterable[Credential]] = tuple,
        tokens: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self._credentials, self._tokens = credentials, tokens

    def relay(self, text: str, limit: int = MAX_RELAYED_CHARS) -> str:
        """`text` without credentials, on one printable line, at most `limit` characters (then `…`)."""
        cleaned = "".join(ch if ch.isprintable() else " " for ch in self.redact(text))
        return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"

    def detail(self, text: str) -> str:
        """`relay` with the longer bound of a log detail."""
        return self.relay(text, MAX_DETAIL_CHARS)

    def redact(self, text: str) -> str:
        """`text` with every known and every credential-shaped secret replaced by `[redacted]`."""
        secrets, usernames = self._known()
        if secrets:  # one pass, longest first (one secret may contain another)
            alternatives = "|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True))
            text = re.sub(alternatives, REDACTED, text, flags=re.IGNORECASE)
        if usernames:  # as whole words only: a username is often an ordinary word
            alternatives = "|".join(re.escape(n) for n in sorted(usernames, key=len, reverse=True))
            text = re.sub(rf"(?<![\w.@-])(?:{alternatives})(?![\w.@-])", REDACTED, text, flags=re.IGNORECASE)
        text = _AUTHORIZATION.sub(rf"\1\2{REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        text = _SCHEME_VALUE.sub(rf"\1\2{REDACTED}", text)
        return _SECRET_FIELD.sub(rf"\1\2{REDACTED}", text)

    def _known(self) -> tuple[set[str], set[str]]:
        secrets: set[str] = set()
        usernames: set[str] = set()
        for credential in self._credentials():
            for value in (credential.password, credential.identity_token):
                secrets.update(_spellings(value))
            if credential.has_basic:
                basic = base64.b64encode(f"{credential.username}:{credential.password}".encode()).decode()
                secrets.update((basic, basic.rstrip("=")))
            if len(credential.username) >= _MIN_USERNAME:
                usernames.add(credential.username)
        for token in self._tokens():
            secrets.update(_spellings(token))
        return {s for s in secrets if s}, usernames


def _spellings(secret: str) -> set[str]:
    """`secret` as written, URL-encoded (a form body, a query) and JSON-escaped (an echoed document)."""
    if not secret:
        return set()
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
    }


PATTERNS_ONLY = Redactor()  # for text relayed where no credential is at hand: shapes only


def keep_response_headers_out_of_logs() -> None:
    """Turn off httpcore's DEBUG traces, which log every response's headers as received: a registry
    echoing the `Authorization` header in one would put the credential in the log. Called by the
    composition root wherever registry clients are built; nothing an operator needs is lost."""
    logging.getLogger("httpcore").setLevel(logging.INFO)
