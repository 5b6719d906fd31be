"""Registry settings and Docker config credentials: parsed once, validated, secrets kept out of sight."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from app.core.errors import ConfigError, RegistryTimeout, RegistryUnavailable
from app.registry import Credential, RegistrySettings, Timeouts
from app.registry.auth import parse_challenge
from app.registry.credentials import normalize_host, parse_docker_config
from app.registry.errors import map_transport_error
from tests.support.certs import issue_server_tls


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_docker_config_entries_are_keyed_by_normalised_host() -> None:
    creds = parse_docker_config(
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": _auth("hubuser", "hubpass")},
                "https://Registry.Example:5000": {"username": "u", "password": "p:with:colons"},
                "ghcr.io": {"identitytoken": "refresh"},
                "quay.io": {"email": "nobody@example.com"},
            },
            "credsStore": "desktop",
        }
    )
    assert creds["docker.io"] == Credential("hubuser", "hubpass")
    assert creds["registry.example:5000"] == Credential("u", "p:with:colons")
    assert creds["ghcr.io"].identity_token == "refresh"
    assert "quay.io" not in creds


def test_a_password_with_a_colon_survives_the_auth_field() -> None:
    creds = parse_docker_config({"auths": {"r.example": {"auth": _auth("u", "a:b")}}})
    assert creds["r.example"].password == "a:b"


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"auths": []}, "'auths' must be an object"),
        ({"auths": {"r.example": {"auth": "%%%"}}}, "auths['r.example'].auth is not base64"),
        (
            {"auths": {"r.example": {"auth": base64.b64encode(b"nocolon").decode()}}},
            "is not base64 of 'user:password'",
        ),
        ({"auths": {"r.example": {"username": 7}}}, "auths['r.example'].username must be a string"),
        ({"auths": {"not a host!": {}}}, "is not a registry host"),
    ],
)
def test_a_bad_docker_config_names_the_field(document: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_docker_config(document)
    assert words in caught.value.reason


def test_credentials_never_show_their_secrets() -> None:
    credential = Credential("alice", "s3cret", "refresh-token")
    settings = RegistrySettings.build(credentials={"r.example": credential})
    assert "s3cret" not in repr(credential) and "refresh-token" not in repr(credential)
    assert "s3cret" not in repr(settings)


def test_docker_config_is_read_from_a_file_and_a_broken_file_is_a_config_error(tmp_path: Path) -> None:
    good = tmp_path / "config.json"
    good.write_text(json.dumps({"auths": {"r.example:5000": {"auth": _auth("u", "p")}}}))
    assert RegistrySettings.build(docker_config=good).credential_for("r.example:5000") == Credential("u", "p")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="is not JSON"):
        RegistrySettings.build(docker_config=broken)
    with pytest.raises(ConfigError, match="does not exist"):
        RegistrySettings.build(docker_config=tmp_path / "absent.json")


def test_hosts_are_normalised_and_docker_hub_maps_to_its_api_host() -> None:
    settings = RegistrySettings.build(insecure_registries=["http://Local.Test:5000/"])
    assert settings.is_insecure("local.test:5000")
    assert settings.base_url("local.test:5000") == "http://local.test:5000"
    assert settings.base_url("docker.io") == "https://registry-1.docker.io"
    assert normalize_host("https://index.docker.io/v1/") == "docker.io"


def test_cli_options_give_a_default_ca_and_per_host_cas(tmp_path: Path) -> None:
    default_ca = issue_server_tls(tmp_path / "default").ca_file
    special_ca = issue_server_tls(tmp_path / "special").ca_file
    settings = RegistrySettings.from_cli(
        ca_file_options=[str(default_ca), f"special.example:443={special_ca}"],
        registry_config=None,
    )
    assert settings.ca_file_for("special.example:443") == special_ca
    assert settings.ca_file_for("other.example") == default_ca
    with pytest.raises(ConfigError, match="may be given once"):
        RegistrySettings.from_cli(ca_file_options=[str(default_ca), str(special_ca)])
    with pytest.raises(ConfigError, match="does not exist"):
        RegistrySettings.from_cli(ca_file_options=[f"h.example={tmp_path / 'missing.pem'}"])


@pytest.mark.parametrize("field", ["connect", "read", "total"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'"):
        Timeouts(**{field: 0})


def test_bearer_challenges_are_parsed_with_quoted_and_bare_values() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    )
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    basic = parse_challenge("Basic realm=registry")
    assert basic is not None and basic.params == {"realm": "registry"}
    assert parse_challenge("") is None


def test_dns_failures_and_unknown_tls_errors_get_admin_readable_reasons() -> None:
    timeouts = Timeouts()
    try:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from socket.gaierror(-2, "unknown")
    except httpx.ConnectError as exc:
        dns = map_transport_error(exc, "nowhere.example", timeouts)
    try:
        raise httpx.ConnectError("handshake") from ssl.SSLError(
            1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] alert"
        )
    except httpx.ConnectError as exc:
        tls = map_transport_error(exc, "old.example", timeouts)
    pool = map_transport_error(httpx.PoolTimeout("pool"), "busy.example", timeouts)
    assert isinstance(dns, RegistryUnavailable)
    assert dns.reason == "registry nowhere.example is unreachable (its name does not resolve)"
    assert tls.reason.startswith("the TLS handshake with registry old.example failed")
    assert isinstance(pool, RegistryTimeout)


def test_an_image_host_finds_its_settings_however_it_is_written(tmp_path: Path) -> None:
    ca = issue_server_tls(tmp_path).ca_file
    settings = RegistrySettings.build(
        insecure_registries=["reg.example:5000"],
        ca_files={"secure.example": ca},
        credentials={"reg.example:5000": Credential("u", "p"), "docker.io": Credential("hub", "h")},
    )
    assert settings.is_insecure("REG.example:5000")
    assert settings.base_url("REG.example:5000") == "http://REG.example:5000"
    assert settings.credential_for("Reg.Example:5000") == Credential("u", "p")
    assert settings.credential_for("registry-1.docker.io") == Credential("hub", "h")
    assert settings.base_url("Docker.io") == "https://registry-1.docker.io"
    assert settings.ca_file_for("SECURE.example") == ca
    assert not settings.is_insecure("reg.example:5001")
    assert settings.credential_for("other.example") is None


def test_a_ca_file_that_holds_no_certificate_is_refused_when_the_settings_are_built(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match=r"CA file for reg\.example: .* is not a readable PEM"):
        RegistrySettings.build(ca_files={"reg.example": garbage})
    with pytest.raises(ConfigError, match=r"default CA file: .* is not a readable PEM"):
        RegistrySettings.build(default_ca_file=garbage)


def test_the_default_docker_config_follows_the_docker_config_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"reg.example": {"auth": _auth("u", "p")}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert RegistrySettings.from_cli().credential_for("reg.example") == Credential("u", "p")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "elsewhere"))
    assert RegistrySettings.from_cli().credential_for("reg.example") is None


def test_a_credential_helper_in_the_docker_config_is_said_not_silently_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    creds = parse_docker_config(
        {"auths": {"r.example": {"auth": _auth("u", "p")}}, "credHelpers": {"gcr.io": "gcr"}}
    )
    assert creds["r.example"] == Credential("u", "p")
    assert "credHelpers not supported" in caplog.text
