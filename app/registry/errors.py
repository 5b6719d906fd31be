"""Translate httpx failures and registry error answers into `app.core.errors`, with messages an admin can act on.

Used only by the transport's single request path. Messages name the registry host and what failed; they
never contain a URL query string, a header, a password or a token. The library's own text (in the
`detail`, and shortened in some reasons) can quote what the registry sent, such as a malformed header
line: it passes through the transport's `Redactor`, like every other piece of registry text.
"""

from __future__ import annotations

import socket
import ssl

import httpx

from app.core import strictjson
from app.core.errors import (
    RegistryError,
    RegistryProtocolError,
    RegistryTimeout,
    RegistryUnavailable,
)
from app.registry.redaction import PATTERNS_ONLY, Redactor
from app.registry.settings import Timeouts


def map_transport_error(
    exc: Exception, host: str, timeouts: Timeouts, redactor: Redactor = PATTERNS_ONLY
) -> RegistryError:
    """The `RegistryError` for an exception raised while talking to `host` (the caller chains `exc`);
    the library's text is relayed through `redactor`."""
    detail = redactor.detail(f"{host}: {exc.__class__.__name__}: {exc}")
    if isinstance(exc, httpx.ConnectTimeout):
        return RegistryTimeout(
            f"registry {host} did not accept a connection within {timeouts.connect:g} s", detail
        )
    if isinstance(exc, httpx.ReadTimeout):
        return RegistryTimeout(f"registry {host} did not answer within {timeouts.read:g} s", detail)
    if isinstance(exc, httpx.TimeoutException):
        return RegistryTimeout(f"registry {host} timed out ({exc.__class__.__name__})", detail)
    if isinstance(exc, TimeoutError):
        return RegistryTimeout(
            f"registry {host} did not complete an answer within {timeouts.total:g} s", detail
        )
    if isinstance(exc, httpx.ConnectError | OSError):
        return _connect_error(exc, host, detail, redactor)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError | httpx.NetworkError):
        return RegistryUnavailable(
            f"the connection to registry {host} broke off mid-answer ({_shown(exc, redactor)})", detail
        )
    if isinstance(exc, httpx.DecodingError):
        return RegistryProtocolError(f"registry {host} sent a body that cannot be decoded", detail)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return RegistryProtocolError(
            f"registry {host} sent an unusable URL ({_shown(exc, redactor)})", detail
        )
    if isinstance(exc, httpx.ProxyError):
        return RegistryUnavailable(f"the proxy to registry {host} failed ({_shown(exc, redactor)})", detail)
    return RegistryUnavailable(f"talking to registry {host} failed ({exc.__class__.__name__})", detail)


def _connect_error(exc: Exception, host: str, detail: str, redactor: Redactor) -> RegistryError:
    cause = _root_cause(exc)
    text = str(exc)
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        why = getattr(cause, "verify_message", None) or "certificate verify failed"
        return RegistryUnavailable(
            f"the TLS certificate of registry {host} is not trusted ({why}); "
            f"give its CA bundle with --ca-file {host}=PATH (webhook: registries.caFiles)",
            detail,
        )
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text or "packet length too long" in text:
        return RegistryUnavailable(
            f"registry {host} does not speak TLS (a plain-HTTP registry?); "
            f"list it with --insecure-registry {host} (webhook: registries.insecure) if plain HTTP is intended",
            detail,
        )
    if isinstance(cause, ssl.SSLError) or "[SSL" in text:
        return RegistryUnavailable(
            f"the TLS handshake with registry {host} failed ({_shown(exc, redactor)})", detail
        )
    if isinstance(cause, ConnectionRefusedError) or "Connection refused" in text:
        return RegistryUnavailable(f"registry {host} is unreachable (connection refused)", detail)
    if (
        isinstance(cause, socket.gaierror)
        or "Name or service not known" in text
        or "nodename nor servname" in text
    ):
        return RegistryUnavailable(f"registry {host} is unreachable (its name does not resolve)", detail)
    reason = getattr(cause, "strerror", None) or _shown(exc, redactor)
    return RegistryUnavailable(f"registry {host} is unreachable ({reason})", detail)


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            break
        current = nxt
    return current


def registry_message(body: bytes) -> str:
    """`CODE: message` from a distribution error body (`{"errors":[{"code","message"}]}`), or '': the
    registry's own text, to be relayed (`Redactor.relay`), never shown as it is."""
    try:
        document = strictjson.loads(body)
        first = document["errors"][0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def _shown(exc: BaseException, redactor: Redactor) -> str:
    """The library's text for `exc`, relayed (it may quote what the registry sent)."""
    return redactor.relay(str(exc) or exc.__class__.__name__)
