"""`PullSecretStore`: registry credentials from dockerconfigjson Secrets, never leaked, fail safe."""

from __future__ import annotations

import base64
import json

import pytest

from app.core.errors import ConfigError
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, Secret, secret_from
from app.kube.dockerconfigsecret import parse_pull_secret
from app.kube.webhookpullsecret import PullSecretStore
from tests.kube.fakes import FakeCore, v1_secret

PULL = SecretRef("sigwebhook", "regcred")
SECOND = SecretRef("sigwebhook", "regcred-2")


def dockerconfigjson(auths: dict[str, tuple[str, str]]) -> dict[str, bytes]:
    doc = {
        "auths": {h: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()} for h, (u, p) in auths.items()}
    }
    return {".dockerconfigjson": json.dumps(doc).encode()}


def pull_secret(
    rv: str, data: dict[str, bytes], ref: SecretRef = PULL, kind: str = "kubernetes.io/dockerconfigjson"
) -> Secret:
    return secret_from(ref, v1_secret(ref.namespace, ref.name, rv, data, kind))


def store_with(*secrets: tuple[SecretRef, dict[str, bytes]]) -> PullSecretStore:
    core = FakeCore(
        {
            (ref.namespace, ref.name): v1_secret(
                ref.namespace, ref.name, "1", data, "kubernetes.io/dockerconfigjson"
            )
            for ref, data in secrets
        }
    )
    store = PullSecretStore(KubeApi(core), [ref for ref, _ in secrets])
    store.load()
    return store


def test_a_dockerconfigjson_secret_gives_credentials_by_normalised_host() -> None:
    store = store_with(
        (
            PULL,
            dockerconfigjson(
                {"https://index.docker.io/v1/": ("bob", "s3cret"), "127.0.0.1:5000": ("a", "b")}
            ),
        )
    )
    creds = store.credentials()
    assert creds["docker.io"].username == "bob" and creds["docker.io"].password == "s3cret"
    assert creds["127.0.0.1:5000"].username == "a"
    assert "s3cret" not in repr(store.snapshot())


def test_the_legacy_dockercfg_type_is_read_too() -> None:
    raw = {".dockercfg": json.dumps({"reg.example": {"username": "u", "password": "p"}}).encode()}
    creds = parse_pull_secret(pull_secret("1", raw, kind="kubernetes.io/dockercfg"))
    assert creds["reg.example"].password == "p"


def test_the_first_configured_secret_wins_a_registry() -> None:
    store = store_with(
        (PULL, dockerconfigjson({"reg.example": ("first", "1")})),
        (SECOND, dockerconfigjson({"reg.example": ("second", "2"), "other.example": ("o", "3")})),
    )
    assert store.credentials()["reg.example"].username == "first"
    assert store.credentials()["other.example"].username == "o"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (
            pull_secret("1", {"x": b"{}"}, kind="Opaque"),
            "has type 'Opaque', expected 'kubernetes.io/dockerconfigjson'",
        ),
        (pull_secret("1", {}), "has no .dockerconfigjson entry"),
        (pull_secret("1", {".dockerconfigjson": b"{not json password=hunter2"}), "is not JSON"),
        (pull_secret("1", {".dockerconfigjson": b"[]"}), "must be a JSON object"),
        (pull_secret("1", {".dockerconfigjson": b'{"auths": {"r.example": {"auth": "!!"}}}'}), "not base64"),
    ],
    ids=["wrong-type", "no-entry", "not-json", "not-object", "bad-auth"],
)
def test_an_unusable_pull_secret_is_a_config_error_without_its_content(secret: Secret, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_pull_secret(secret)
    assert "hunter2" not in caught.value.reason and "hunter2" not in caught.value.detail


def test_a_missing_pull_secret_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="pull Secret k8s://sigwebhook/regcred does not exist"):
        PullSecretStore(KubeApi(FakeCore()), [PULL]).load()


def test_rotated_credentials_apply_and_broken_ones_keep_the_last_good() -> None:
    store = store_with((PULL, dockerconfigjson({"reg.example": ("u", "old")})))
    store.apply(PULL, pull_secret("2", dockerconfigjson({"reg.example": ("u", "new")})))
    assert store.credentials()["reg.example"].password == "new"
    store.apply(PULL, pull_secret("3", {".dockerconfigjson": b"garbage"}))
    assert store.credentials()["reg.example"].password == "new"


def test_a_deleted_pull_secret_drops_its_credentials_with_a_reason() -> None:
    store = store_with((PULL, dockerconfigjson({"reg.example": ("u", "p")})))
    store.apply(PULL, None)
    assert dict(store.credentials()) == {}
    assert "deleted" in store.snapshot().problems[PULL]
