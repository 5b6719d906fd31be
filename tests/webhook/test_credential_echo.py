"""A registry that echoes the pull credential in its error answers: over the real
HTTPS webhook and the real CLI, the credential never reaches the answer, the audit line or the logs.

The registry is the real `docker-registry` behind the fault-injecting proxy, which challenges for
credentials (Basic, or Bearer with a token realm) and then answers an error whose message quotes the
`Authorization` header, the credential alone, decoded, and the request body (`echo_auth`). The
credentials come from a Docker config file, as the webhook's `registries.dockerConfigFile` and the
CLI's `--registry-config` read them; Bearer tokens come from the tests' token service.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.registry.redaction import REDACTED
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, run_cli, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.support.certs import make_token_signing_key
from tests.support.fault_proxy import FaultProxy
from tests.support.token_service import TokenService
from tests.webhook.reviews import review

KEY = "ecdsa-p256"
USER, PASSWORD = "echo-puller", "s3cret-Pa55/word+x"
IDENTITY_TOKEN = "refresh-0a1b2c3d4e5f"
SIG_MANIFEST = r"GET /v2/echo/app/manifests/sha256-"


@dataclass
class Echo:
    """One way of echoing: the Docker config entry, the proxy rules, and what the answer must mention."""

    auth: dict[str, str]
    rules: Callable[[FaultProxy, TokenService], list[tuple[str, tuple[str, int]]]]
    mentions: str


def _basic(status: int) -> Echo:
    return Echo(
        {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
        lambda proxy, tokens: [(SIG_MANIFEST, ('Basic realm="echo"', status))],
        f"{status} DENIED",
    )


ECHOES = {
    "basic credentials echoed in a 400": _basic(400),
    "basic credentials echoed in a 500": _basic(500),
    "basic credentials echoed by the token realm": Echo(
        {"username": USER, "password": PASSWORD},
        lambda proxy, tokens: [
            (SIG_MANIFEST, (f'Bearer realm="{proxy.url}/token",service="echo"', 400)),
            ("GET /token", ("", 400)),
        ],
        "the token service of",
    ),
    "an identity token echoed by the token realm": Echo(
        {"identitytoken": IDENTITY_TOKEN},
        lambda proxy, tokens: [
            (SIG_MANIFEST, (f'Bearer realm="{proxy.url}/token",service="echo"', 400)),
            ("POST /token", ("", 400)),
        ],
        "the token service of",
    ),
    "an issued bearer token echoed in a 400": Echo(
        {"username": USER, "password": PASSWORD},
        lambda proxy, tokens: [(SIG_MANIFEST, (f'Bearer realm="{tokens.realm}",service="echo"', 400))],
        "400 DENIED",
    ),
}


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService(
        signing_key=make_token_signing_key(tmp_path_factory.mktemp("echo-token-pki")),
        service="echo",
        users={USER: PASSWORD},
        refresh_tokens={IDENTITY_TOKEN: USER},
    ).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def signed_image(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> str:
    """`echo/app:1` in the plain registry, signed (v2 layout): its `.sig` manifest is what is echoed on."""
    push_image(plain_registry, "echo/app", "1", content=b"echo app")
    sign_image(
        f"{plain_registry.host}/echo/app:1", key_pairs[KEY], ["--insecure-registry", plain_registry.host]
    )
    return "echo/app:1"


@pytest.fixture(params=list(ECHOES))
def echo(
    request: pytest.FixtureRequest, plain_registry: TestRegistry, token_service: TokenService, tmp_path: Path
) -> Iterator[tuple[FaultProxy, Echo, Path]]:
    """The echoing proxy in front of the plain registry, and a Docker config with its credentials."""
    chosen = ECHOES[request.param]
    with FaultProxy(plain_registry.host) as proxy:
        for pattern, value in chosen.rules(proxy, token_service):
            proxy.add(pattern, "echo_auth", value)
        config = tmp_path / "docker-config.json"
        config.write_text(json.dumps({"auths": {proxy.host: chosen.auth}}))
        yield proxy, chosen, config


def _secrets(proxy: FaultProxy) -> set[str]:
    """Every credential the client sent or could have sent, in the forms an echo would show them."""
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    sent = {
        value.partition(" ")[2]
        for seen in proxy.seen
        for name, value in seen.headers.items()
        if name.lower() == "authorization"
    }
    posted = any(seen.method == "POST" and seen.path.startswith("/token") for seen in proxy.seen)
    assert sent or posted, "the client never sent a credential: nothing was echoed"
    return {USER, PASSWORD, basic, basic.rstrip("="), IDENTITY_TOKEN} | sent


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return [s for s in secrets if s.lower() in text.lower()]


def test_the_webhook_relays_an_echoing_registry_without_the_credential(
    echo: tuple[FaultProxy, Echo, Path],
    signed_image: str,
    key_pairs: dict[str, KeyPair],
    token_service: TokenService,
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, chosen, config = echo
    caplog.set_level(logging.DEBUG)
    token_host = token_service.realm.split("/")[2]
    webhook = start_webhook(
        {
            "registries": {"insecure": [proxy.host, token_host], "dockerConfigFile": str(config)},
            "verdictCache": {"ttlSeconds": 0},
            "logLevel": "debug",
            "policies": [key_policy("echo", f"{proxy.host}/echo/**", key_pairs[KEY])],
        }
    )
    reply = webhook.post(review([("app", f"{proxy.host}/{signed_image}")]))
    assert reply.status_code == 200, reply.text
    response = reply.json()["response"]
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert chosen.mentions in message and REDACTED in message, message
    secrets = _secrets(proxy)
    assert _leaks(reply.text, secrets) == []
    assert _leaks("\n".join(webhook.audit_lines), secrets) == []
    assert REDACTED in webhook.audit_lines[-1]
    assert _leaks(caplog.text, secrets) == []


@pytest.mark.parametrize("output", [[], ["-o", "json"]], ids=["text", "json"])
def test_the_cli_relays_an_echoing_registry_without_the_credential(
    echo: tuple[FaultProxy, Echo, Path],
    signed_image: str,
    key_pairs: dict[str, KeyPair],
    token_service: TokenService,
    output: list[str],
) -> None:
    proxy, chosen, config = echo
    token_host = token_service.realm.split("/")[2]
    result = run_cli(
        "verify",
        "--key",
        str(key_pairs[KEY].public),
        *("--insecure-registry", proxy.host, "--insecure-registry", token_host),
        *("--registry-config", str(config), "--debug", *output),
        f"{proxy.host}/{signed_image}",
    )
    assert result.returncode == 1, result.stderr
    assert chosen.mentions in result.stdout and REDACTED in result.stdout, result.stdout
    assert _leaks(result.stdout + result.stderr, _secrets(proxy)) == []
