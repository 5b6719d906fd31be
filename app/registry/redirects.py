"""Where a registry may send a request: redirect targets, and which URLs are the registry's own origin.

Used by the transport's request path (`app.registry.transport`): credentials go only to the
registry's own origin, and a redirect never leaves HTTP(S) nor goes from HTTPS down to plain HTTP
unless the target host is listed as insecure.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from app.core.errors import RegistryProtocolError
from app.registry.redaction import PATTERNS_ONLY


def check_redirect(
    registry: str,
    what: str,
    current: str,
    target: str,
    is_insecure: Callable[[str], bool],
    relay: Callable[[str], str] = PATTERNS_ONLY.relay,
) -> None:
    """A redirect may go to another host (a blob CDN) but not off HTTP(S), and never from HTTPS down to
    plain HTTP unless the target host is itself listed as insecure: what a registry sends over TLS is
    not fetched in clear text (the bytes are digest-checked anyway, but the request would be seen)."""
    scheme = urllib.parse.urlsplit(target).scheme
    if scheme not in ("http", "https"):
        raise RegistryProtocolError(f"{registry} redirected {what} to a {relay(scheme) or 'relative'} URL")
    if scheme == "http" and urllib.parse.urlsplit(current).scheme == "https":
        host = urllib.parse.urlsplit(target).netloc.rpartition("@")[2]
        if not is_insecure(host):
            raise RegistryProtocolError(
                f"{registry} redirected {what} from HTTPS to plain HTTP ({relay(host)}, not listed as insecure)"
            )


def origin(url: str) -> tuple[str, str]:
    """(scheme, host:port) of `url`, the port made explicit: what "the same origin" compares."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a malformed port: never the registry's origin
        return parts.scheme, parts.netloc
    return parts.scheme, f"{(parts.hostname or '').lower()}:{port}"
