"""Registry text relayed to people (`app.registry.redaction`): credentials and tokens never come back
out, whether the transport knows them or they only look like one, and what is relayed is bounded."""

from __future__ import annotations

import base64
import json
import urllib.parse

import httpx
import pytest

from app.core.errors import RegistryAuthError
from app.registry.credentials import Credential
from app.registry.errors import map_transport_error
from app.registry.redaction import MAX_DETAIL_CHARS, MAX_RELAYED_CHARS, REDACTED, Redactor
from app.registry.replies import Reply
from app.registry.settings import RegistrySettings, Timeouts
from app.registry.transport import RegistryTransport

USER, PASSWORD = "ci-puller", 'p@ss w0rd/"quoted"&+'
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
IDENTITY = "refresh-9f8e7d6c5b4a"
TOKEN = "opaque.Token-1234567890"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl"
SECRETS = (PASSWORD, BASIC, IDENTITY, TOKEN, JWT, USER)


def redactor() -> Redactor:
    return Redactor(
        lambda: (Credential(USER, PASSWORD), Credential(identity_token=IDENTITY)), lambda: (TOKEN,)
    )


@pytest.mark.parametrize(
    "echoed",
    [
        f"Authorization: Basic {BASIC}",
        f"authorization={BASIC}",
        f'"Proxy-Authorization": "Bearer {TOKEN}"',
        f"credential {BASIC} rejected",
        f"credential {BASIC.lower()} rejected",  # a registry that lower-cases what it echoes
        f"credential {BASIC.rstrip('=')} rejected",
        f"user {USER} password {PASSWORD}",
        f"decoded {USER}:{PASSWORD}",
        f"form refresh_token={urllib.parse.quote(IDENTITY)}&grant_type=refresh_token",
        f"form password={urllib.parse.quote_plus(PASSWORD)}",
        f"document {json.dumps({'password': PASSWORD})}",
        f"bare identity token {IDENTITY}",
        f"bare token {TOKEN}",
        f"Bearer {TOKEN}",
    ],
)
def test_a_known_credential_is_redacted_in_any_spelling(echoed: str) -> None:
    relayed = redactor().relay(f"DENIED: {echoed} (request 42)")
    assert REDACTED in relayed
    assert not [s for s in SECRETS if s.lower() in relayed.lower()], relayed


@pytest.mark.parametrize(
    ("echoed", "secret"),
    [
        ("Authorization: Basic dW5rbm93bjpzZWNyZXQ=", "dW5rbm93bjpzZWNyZXQ"),
        ("WWW sent Bearer abcdefghijk0123456789", "abcdefghijk0123456789"),
        ("basic Zm9vOmJhcg==", "Zm9vOmJhcg"),
        (f"a token {JWT} was refused", "eyJ"),
        ('{"token": "t0k3n-value"}', "t0k3n-value"),
        ("access_token=abc123&expires_in=60", "abc123"),
        ("password: hunter2", "hunter2"),
        ("x-authorization: anything at all", "anything at all"),
    ],
)
def test_what_only_looks_like_a_credential_is_redacted_too(echoed: str, secret: str) -> None:
    relayed = Redactor().relay(echoed)
    assert secret not in relayed and REDACTED in relayed, relayed


@pytest.mark.parametrize(
    "message",
    [
        "MANIFEST_UNKNOWN: manifest unknown",
        "BLOB_UNKNOWN: blob unknown to registry: sha256:" + "ab" * 32,
        "UNAUTHORIZED: authentication required",
        "basic authentication required",
        "NAME_UNKNOWN: repository name not known to registry",
    ],
)
def test_ordinary_registry_messages_are_relayed_as_they_are(message: str) -> None:
    assert redactor().relay(message) == message


def test_a_username_is_redacted_as_a_word_only() -> None:
    assert redactor().relay(f"{USER} is not {USER}s") == f"{REDACTED} is not {USER}s"


def test_relayed_text_is_one_printable_line_bounded_after_redaction() -> None:
    relayed = redactor().relay("x" * (MAX_RELAYED_CHARS - 5) + PASSWORD + "\n\x1b[31m" + "y" * 1000)
    assert relayed == "x" * (MAX_RELAYED_CHARS - 5) + REDACTED[:5] + "…"
    assert len(redactor().detail("z" * 10_000)) == MAX_DETAIL_CHARS + 1
    assert redactor().relay("a\nb\x1bc") == "a b c"


def test_a_reply_explains_its_error_body_through_the_redactor_it_carries() -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": f"bad credential {BASIC}"}]}).encode()
    assert Reply(400, {}, body, redactor().relay).explain() == f"400 DENIED: bad credential {REDACTED}"
    # without the transport's redactor, the shapes are still caught
    basic_line = json.dumps({"errors": [{"code": "DENIED", "message": f"Authorization: Basic {BASIC}"}]})
    assert Reply(400, {}, basic_line.encode()).explain() == f"400 DENIED: Authorization: {REDACTED}"


def test_library_exception_text_is_redacted_in_the_reason_and_the_detail() -> None:
    exc = httpx.RemoteProtocolError(f"illegal header line: bytearray(b'X-Echo: {BASIC}')")
    error = map_transport_error(exc, "registry.example", Timeouts(), redactor())
    assert BASIC not in error.reason and BASIC not in error.detail
    assert REDACTED in error.reason and REDACTED in error.detail


async def test_an_unsupported_scheme_is_quoted_redacted() -> None:
    settings = RegistrySettings.build(credentials={"registry.example": Credential(USER, PASSWORD)})
    transport = RegistryTransport(settings)
    reply = Reply(401, {"www-authenticate": f"{BASIC} realm=x"})
    with pytest.raises(RegistryAuthError) as caught:
        await transport.auth.answer("registry.example", None, reply, None, "manifest x")
    assert BASIC.lower() not in caught.value.reason.lower() and REDACTED in caught.value.reason
    await transport.aclose()


def test_the_transport_redacts_the_credentials_it_holds_and_the_tokens_it_was_issued() -> None:
    settings = RegistrySettings.build(credentials={"registry.example": Credential(USER, PASSWORD)})
    transport = RegistryTransport(settings)
    transport.auth._tokens[("registry.example", "repository:x:pull")] = (TOKEN, 1e12)
    relayed = transport.redactor.relay(f"{PASSWORD} {BASIC} {TOKEN}")
    assert relayed == f"{REDACTED} {REDACTED} {REDACTED}"
