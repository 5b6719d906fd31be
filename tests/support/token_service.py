"""A small Docker token service (distribution `docs/spec/auth/token.md`) for the `token_registry` fixture.

`GET /token?service=…&scope=repository:<path>:<actions>` with Basic credentials (or an OAuth2
`POST` with `grant_type=refresh_token`) returns a JWT signed with ES256 by a test key whose self-signed
certificate is the registry's `rootcertbundle`; the certificate travels in the JWT `x5c` header, which
distribution 2.8 accepts. Anonymous callers get `pull` on repositories under `public/` only. Every
token request is recorded so tests can count them.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support.certs import SigningKey

ISSUER = "sigwebhook-test-issuer"
ANONYMOUS_PREFIX = "public/"


@dataclass
class TokenRequest:
    """What one call to the token service asked for and who asked."""

    user: str | None
    scopes: list[str]
    granted: bool


@dataclass
class TokenService:
    """The running token service. `expires_in` may be changed by a test; `requests` records every call."""

    signing_key: SigningKey
    service: str
    users: dict[str, str]
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    expires_in: int = 300
    requests: list[TokenRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = service._basic_user(self.headers.get("Authorization"))
                service._answer(self, user, query)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = form.get("refresh_token", [""])[0]
                user = (
                    service.refresh_tokens.get(token) if form.get("grant_type") == ["refresh_token"] else None
                )
                service._answer(self, user if user else False, form)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="token-service", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def _basic_user(self, header: str | None) -> str | bool | None:
        """The user name for valid Basic credentials, None without any, False for wrong ones."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user if self.users.get(user) == password and password else False

    def _answer(
        self, handler: BaseHTTPRequestHandler, user: str | bool | None, query: dict[str, list[str]]
    ) -> None:
        scopes = query.get("scope", [])
        granted = user is not False and query.get("service") == [self.service]
        with self._lock:
            self.requests.append(TokenRequest(user if isinstance(user, str) else None, scopes, granted))
        if not granted:
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
            handler.send_response(401)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body.encode())
            return
        access = [
            grant for scope in scopes if (grant := _grant(scope, user if isinstance(user, str) else None))
        ]
        token = self._jwt(user if isinstance(user, str) else "", access)
        body = json.dumps({"token": token, "access_token": token, "expires_in": self.expires_in})
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body.encode())

    def _jwt(self, subject: str, access: list[dict[str, object]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.signing_key.cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        der = self.signing_key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS ES256 wants raw r||s (RFC 7518 §3.4)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _grant(scope: str, user: str | None) -> dict[str, object] | None:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if kind != "repository" or not name:
        return None
    wanted = [a for a in actions.split(",") if a]
    if user is None:
        wanted = [a for a in wanted if a == "pull"] if name.startswith(ANONYMOUS_PREFIX) else []
    return {"type": "repository", "name": name, "actions": wanted} if wanted else None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
