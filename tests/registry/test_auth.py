"""Authentication against real registries: Basic (htpasswd over TLS) and the Bearer token flow."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass

import pytest

from app.core.digests import Digest
from app.core.errors import RegistryAuthError
from app.core.references import Repository, parse_reference
from app.registry import Credential, OciRegistry, RegistrySettings
from tests.fakes import ManualClock
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry


@dataclass(frozen=True)
class Pushed:
    """Images pushed once per module: on the TLS registry, and on the token registry two private
    repositories (two scopes) and one under `public/` (anonymous pull)."""

    tls: str
    tls_digest: Digest
    token: str
    token_digest: Digest
    token_other: str
    public: str
    public_digest: Digest


@pytest.fixture(scope="module")
def pushed(tls_registry: TestRegistry, token_registry: TestRegistry) -> Pushed:
    """Pushed with skopeo once for this module's tests, which only read them (each push is a skopeo run)."""
    suffix = uuid.uuid4().hex[:8]
    tls, token, other = f"auth/tls-{suffix}", f"auth/token-{suffix}", f"auth/other-{suffix}"
    public = f"public/anon-{suffix}"
    tls_digest = push_image(tls_registry, tls, "v1")
    token_digest = push_image(token_registry, token, "v1")
    push_image(token_registry, other, "v1")
    public_digest = push_image(token_registry, public, "v1")
    return Pushed(tls, tls_digest, token, token_digest, other, public, public_digest)


def _docker_config(
    registry: TestRegistry, key: str | None = None, password: str | None = None
) -> dict[str, object]:
    user_pass = f"{registry.username}:{password or registry.password}".encode()
    return {"auths": {key or registry.host: {"auth": base64.b64encode(user_pass).decode()}}}


def _tls_settings(registry: TestRegistry, docker_config: dict[str, object] | None) -> RegistrySettings:
    assert registry.ca_file is not None
    insecure = [registry.token_service.realm.split("/")[2]] if registry.token_service else []
    return RegistrySettings.build(
        ca_files={registry.host: registry.ca_file}, docker_config=docker_config, insecure_registries=insecure
    )


async def test_basic_auth_uses_the_docker_config_credentials(
    tls_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = pushed.tls
    settings = _tls_settings(
        tls_registry, _docker_config(tls_registry, key=f"https://{tls_registry.host}/v1/")
    )
    async with OciRegistry(settings) as registry:
        first = await registry.resolve(parse_reference(f"{tls_registry.host}/{repo}:v1"))
        assert registry.stats.total == 2  # 401 challenge, then the retry with Basic
        await registry.resolve(parse_reference(f"{tls_registry.host}/{repo}:v1"))
        assert registry.stats.total == 3  # the scheme is known now: credentials go up front
    assert first.digest == pushed.tls_digest


async def test_wrong_basic_password_is_an_auth_error_that_hides_the_password(
    tls_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = pushed.tls
    settings = _tls_settings(tls_registry, _docker_config(tls_registry, password="not-the-password"))
    async with OciRegistry(settings) as registry:
        with pytest.raises(RegistryAuthError) as caught:
            await registry.resolve(parse_reference(f"{tls_registry.host}/{repo}:v1"))
    assert f"{tls_registry.host} did not accept the credentials configured for it" in caught.value.reason
    assert "not-the-password" not in f"{caught.value.reason} {caught.value.detail}"


@pytest.mark.parametrize("name", ["tls_registry", "token_registry"])
async def test_a_private_registry_without_credentials_says_so(
    name: str, request: pytest.FixtureRequest
) -> None:
    target: TestRegistry = request.getfixturevalue(name)
    async with OciRegistry(_tls_settings(target, None)) as registry:
        with pytest.raises(RegistryAuthError) as caught:
            await registry.resolve(parse_reference(f"{target.host}/private/thing:v1"))
    assert (
        caught.value.reason
        == f"{target.host} requires authentication and no credentials are configured for it"
    )


async def test_bearer_tokens_are_fetched_once_per_scope_and_reused(
    token_registry: TestRegistry, pushed: Pushed
) -> None:
    repo, other = pushed.token, pushed.token_other
    service = token_registry.token_service
    assert service is not None
    async with OciRegistry(token_registry.settings(), clock=ManualClock()) as registry:
        before = service.count()
        first = await registry.resolve(parse_reference(f"{token_registry.host}/{repo}:v1"))
        second = await registry.fetch_manifest(Repository(token_registry.host, repo), "v1")
        assert service.count() - before == 1
        assert registry.stats.token_requests == 1
        await registry.resolve(parse_reference(f"{token_registry.host}/{other}:v1"))
        assert service.count() - before == 2  # another repository is another scope
    assert first.digest == pushed.token_digest
    assert second is not None and second.digest == pushed.token_digest
    assert service.requests[-1].scopes == [f"repository:{other}:pull"]


async def test_concurrent_requests_for_one_scope_share_one_token(
    token_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = pushed.token
    async with OciRegistry(token_registry.settings()) as registry:
        await registry.ping(token_registry.host)  # learn the scheme, so all five ask for a token up front
        tokens_before = registry.stats.token_requests
        ref = parse_reference(f"{token_registry.host}/{repo}:v1")
        results = await asyncio.gather(*(registry.resolve(ref) for _ in range(5)))
        assert registry.stats.token_requests - tokens_before == 1
    assert {r.digest for r in results} == {pushed.token_digest}


async def test_first_contact_with_concurrent_requests_fetches_one_token(
    token_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = Repository(token_registry.host, pushed.token)
    async with OciRegistry(token_registry.settings()) as registry:
        # both meet the 401 challenge; the second must reuse the token the first fetched
        found, absent = await asyncio.gather(
            registry.fetch_manifest(repo, "v1"), registry.fetch_manifest(repo, "v2")
        )
        assert registry.stats.by_purpose["registry"] == 4
        assert registry.stats.token_requests == 1
    assert found is not None and found.digest == pushed.token_digest
    assert absent is None


async def test_an_expired_token_is_replaced_on_the_injected_clock(
    token_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = pushed.token
    service = token_registry.token_service
    assert service is not None
    clock = ManualClock()
    async with OciRegistry(token_registry.settings(), clock=clock) as registry:
        ref = parse_reference(f"{token_registry.host}/{repo}:v1")
        await registry.resolve(ref)
        fetched = registry.stats.token_requests
        clock.advance(service.expires_in - 30)
        await registry.resolve(ref)
        assert registry.stats.token_requests == fetched
        clock.advance(60)
        await registry.resolve(ref)
        assert registry.stats.token_requests == fetched + 1


async def test_anonymous_bearer_pull_works_where_the_token_service_allows_it(
    token_registry: TestRegistry, pushed: Pushed
) -> None:
    async with OciRegistry(token_registry.settings(with_credentials=False)) as registry:
        resolved = await registry.resolve(parse_reference(f"{token_registry.host}/{pushed.public}:v1"))
    assert resolved.digest == pushed.public_digest
    assert token_registry.token_service is not None
    assert token_registry.token_service.requests[-1].user is None


async def test_wrong_credentials_at_the_token_service_are_an_auth_error(token_registry: TestRegistry) -> None:
    settings = _tls_settings(token_registry, _docker_config(token_registry, password="wrong"))
    async with OciRegistry(settings) as registry:
        with pytest.raises(RegistryAuthError, match=r"token service of .* rejected the credentials"):
            await registry.resolve(parse_reference(f"{token_registry.host}/auth/any:v1"))


async def test_an_identity_token_is_used_as_an_oauth2_refresh_token(
    token_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = pushed.token
    config = {"auths": {token_registry.host: {"username": "<token>", "identitytoken": "test-refresh-token"}}}
    async with OciRegistry(_tls_settings(token_registry, config)) as registry:
        resolved = await registry.resolve(parse_reference(f"{token_registry.host}/{repo}:v1"))
    assert resolved.digest == pushed.token_digest


async def test_a_plain_http_token_realm_is_refused_unless_listed_insecure(
    token_registry: TestRegistry,
) -> None:
    assert token_registry.ca_file is not None and token_registry.username and token_registry.password
    settings = RegistrySettings.build(
        ca_files={token_registry.host: token_registry.ca_file},
        credentials={token_registry.host: Credential(token_registry.username, token_registry.password)},
    )
    async with OciRegistry(settings) as registry:
        with pytest.raises(
            RegistryAuthError, match=r"uses plain HTTP; list 127\.0\.0\.1:[0-9]+ with --insecure-registry"
        ):
            await registry.resolve(parse_reference(f"{token_registry.host}/auth/any:v1"))


async def test_the_token_cache_of_a_long_running_webhook_stays_bounded_and_drops_expired_scopes() -> None:
    from app.registry.auth import MAX_CACHED_TOKENS, Authenticator
    from app.registry.replies import Reply

    async def token_service(method: str, url: str, headers: object, content: bytes | None) -> Reply:
        return Reply(200, {"content-type": "application/json"}, b'{"token": "t", "expires_in": 60}')

    clock = ManualClock()
    auth = Authenticator(RegistrySettings.build(), clock, token_service)
    challenge = Reply(401, {"www-authenticate": 'Bearer realm="https://auth.example/token",service="reg"'})
    for i in range(MAX_CACHED_TOKENS * 2):  # live tokens only: the cache still stays bounded
        await auth.answer("reg.example", f"repository:r{i}:pull", challenge, None, "a manifest")
        assert len(auth._tokens) <= MAX_CACHED_TOKENS
    assert auth._tokens.get(("reg.example", f"repository:r{MAX_CACHED_TOKENS * 2 - 1}:pull")) == "t"
    assert auth._tokens.get(("reg.example", "repository:r0:pull")) is None  # the oldest went first
    clock.advance(120)  # every token has expired
    fresh = [f"repository:fresh{i}:pull" for i in range(MAX_CACHED_TOKENS)]
    for scope in fresh:  # the expired ones are the ones to go
        await auth.answer("reg.example", scope, challenge, None, "a manifest")
    assert len(auth._tokens) == MAX_CACHED_TOKENS
    assert all(auth._tokens.get(("reg.example", scope)) == "t" for scope in fresh)
