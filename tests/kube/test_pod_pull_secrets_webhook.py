"""Pod pull credentials end to end inside the webhook: a private registry (TLS + htpasswd) reached
with the credentials of a pod's imagePullSecret, given as a real `kubernetes.client` V1Secret behind
the real `KubeApi` adapter; reviews over real HTTPS to the webhook built by `build_webhook`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.compose import build_webhook
from app.config import load_settings
from app.kube.client import KubeApi
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, sign_image
from tests.fixtures.webhook import RunningWebhook, serve_in_thread, with_tls
from tests.kube.podcore import PodCore, docker_config_secret, service_account
from tests.support.certs import ServerTls
from tests.webhook.reviews import review

Start = Callable[[dict[str, Any], PodCore], RunningWebhook]


@pytest.fixture
def start_with_core(webhook_tls: ServerTls, tmp_path: Path) -> Iterator[Start]:
    """Start the webhook from a config dict, its Kubernetes adapter over `core`."""
    running: list[RunningWebhook] = []

    def start(config: dict[str, Any], core: PodCore) -> RunningWebhook:
        path = tmp_path / f"config-{len(running)}.yaml"
        path.write_text(yaml.safe_dump(with_tls(config, webhook_tls)))
        webhook = RunningWebhook("", webhook_tls.ca_file, path)
        built = build_webhook(load_settings(path), audit=webhook.audit_lines.append, kube_api=KubeApi(core))
        built.start()
        webhook._stop = built.stop
        running.append(webhook)
        serve_in_thread(webhook, built.app, built.certificate)
        return webhook

    yield start
    for webhook in running:
        webhook.stop()


@pytest.fixture(scope="module")
def private_image(
    tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A signed image in the private registry (pushed and signed with the registry's credentials)."""
    config = tmp_path_factory.mktemp("pull") / "config.json"
    config.write_text(json.dumps(tls_registry.docker_config()))
    push_image(tls_registry, "podcreds/app", "1", content=b"pod-credentials")
    image = f"{tls_registry.host}/podcreds/app:1"
    access = ["--ca-file", f"{tls_registry.host}={tls_registry.ca_file}", "--registry-config", str(config)]
    sign_image(image, key_pairs["ecdsa-p256"], access)
    return image


def config(registry: TestRegistry, key: KeyPair, pod_pull_secrets: bool = True) -> dict[str, Any]:
    return {
        "registries": {"caFiles": {registry.host: str(registry.ca_file)}, "podPullSecrets": pod_pull_secrets},
        "policies": [
            {
                "name": "private",
                "images": [f"{registry.host}/podcreds/**"],
                "keys": [{"file": str(key.public)}],
            }
        ],
    }


def cluster(registry: TestRegistry) -> PodCore:
    """Namespace `team` holds the registry's pull Secret `regcred`; ServiceAccount `builder` names it."""
    assert registry.username is not None and registry.password is not None
    core = PodCore()
    creds = {registry.host: (registry.username, registry.password)}
    core.secrets[("team", "regcred")] = docker_config_secret("team", "regcred", creds)
    core.secrets[("team", "wrong")] = docker_config_secret(
        "team", "wrong", {registry.host: ("intruder", "guess")}
    )
    core.accounts[("team", "default")] = service_account("team", "default", [])
    core.accounts[("team", "builder")] = service_account("team", "builder", ["regcred"])
    return core


def pod_review(
    image: str, namespace: str = "team", secrets: tuple[str, ...] = (), account: str | None = None
) -> dict[str, Any]:
    body = review([("app", image)], namespace=namespace)
    spec = body["request"]["object"]["spec"]
    if secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in secrets]
    if account:
        spec["serviceAccountName"] = account
    return body


def answer(webhook: RunningWebhook, body: dict[str, Any]) -> dict[str, Any]:
    response = webhook.post(body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["response"]
    return result


def test_a_private_image_verifies_with_the_pods_image_pull_secret(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    core = cluster(tls_registry)
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), core)
    assert answer(webhook, pod_review(private_image, secrets=("regcred",)))["allowed"] is True
    assert ("secret", "team", "regcred") in core.reads


def test_a_pod_without_credentials_for_a_private_tag_is_denied_even_after_another_pod_verified_it(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), cluster(tls_registry))
    assert answer(webhook, pod_review(private_image, secrets=("regcred",)))["allowed"] is True
    denied = answer(webhook, pod_review(private_image))  # same tag, no credentials of its own
    assert denied["allowed"] is False
    assert "requires authentication and no credentials are configured" in denied["status"]["message"]
    wrong = answer(webhook, pod_review(private_image, secrets=("wrong",)))  # its own, bad credentials
    assert wrong["allowed"] is False and "did not accept the credentials" in wrong["status"]["message"]


def test_the_service_accounts_pull_secrets_are_used_when_the_pod_names_none(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), cluster(tls_registry))
    assert answer(webhook, pod_review(private_image, account="builder"))["allowed"] is True


def test_a_pod_cannot_borrow_a_pull_secret_from_another_namespace(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    core = cluster(tls_registry)
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), core)
    result = answer(webhook, pod_review(private_image, namespace="other", secrets=("regcred",)))
    assert result["allowed"] is False
    assert ("secret", "other", "regcred") in core.reads and ("secret", "team", "regcred") not in core.reads


def test_many_reviews_of_pods_with_one_pull_secret_read_it_once(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    core = cluster(tls_registry)
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), core)
    for _ in range(5):
        assert answer(webhook, pod_review(private_image, secrets=("regcred",)))["allowed"] is True
    assert core.secret_reads() == 1


def test_with_pod_pull_secrets_off_no_secret_is_read_and_the_private_image_is_denied(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    core = cluster(tls_registry)
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"], pod_pull_secrets=False), core)
    assert answer(webhook, pod_review(private_image, secrets=("regcred",)))["allowed"] is False
    assert core.reads == []


def test_pod_credentials_never_reach_the_audit_log_or_the_answer(
    start_with_core: Start,
    tls_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    private_image: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), cluster(tls_registry))
    response = webhook.post(pod_review(private_image, secrets=("regcred",)))
    assert tls_registry.password is not None
    encoded = base64.b64encode(f"{tls_registry.username}:{tls_registry.password}".encode()).decode()
    for secret in (tls_registry.password, encoded, "guess"):
        assert secret not in response.text
        assert secret not in "\n".join(webhook.audit_lines)
        assert secret not in caplog.text
