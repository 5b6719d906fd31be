"""Pod pull credentials end to end inside the webhook: a private registry (TLS + htpasswd) reached
with the credentials of a pod's imagePullSecret, given as a real `kubernetes.client` V1Secret behind
the real `KubeApi` adapter; reviews over real HTTPS to the webhook built by `build_webhook`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.compose import Webhook, build_webhook
from app.config import load_settings
from app.kube.client import KubeApi
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook, serve_in_thread, with_tls
from tests.kube.podcore import PodCore, docker_config_secret, service_account
from tests.support.certs import ServerTls
from tests.webhook.reviews import review


class Start:
    """`start(config, core)`: the webhook from a config dict, its Kubernetes adapter over `core`;
    `built[i]` is what `build_webhook` built for the i-th one."""

    def __init__(self, tls: ServerTls, directory: Path) -> None:
        self.tls, self.directory = tls, directory
        self.running: list[RunningWebhook] = []
        self.built: list[Webhook] = []

    def __call__(self, config: dict[str, Any], core: PodCore) -> RunningWebhook:
        path = self.directory / f"config-{len(self.running)}.yaml"
        path.write_text(yaml.safe_dump(with_tls(config, self.tls)))
        webhook = RunningWebhook("", self.tls.ca_file, path)
        built = build_webhook(load_settings(path), audit=webhook.audit_lines.append, kube_api=KubeApi(core))
        built.start()
        webhook._stop = built.stop
        self.running.append(webhook)
        self.built.append(built)
        serve_in_thread(webhook, built.app, built.certificate)
        return webhook


@pytest.fixture
def start_with_core(webhook_tls: ServerTls, tmp_path: Path) -> Iterator[Start]:
    starter = Start(webhook_tls, tmp_path)
    yield starter
    for webhook in starter.running:
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
        "policies": [key_policy("private", f"{registry.host}/podcreds/**", key)],
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


def test_many_reviews_of_pods_with_one_pull_secret_read_it_once_and_the_metrics_say_so(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    core = cluster(tls_registry)
    settings = config(tls_registry, key_pairs["ecdsa-p256"])
    settings["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    webhook = start_with_core(settings, core)
    for _ in range(5):
        assert answer(webhook, pod_review(private_image, secrets=("regcred",)))["allowed"] is True
    assert core.secret_reads() == 1
    metrics = start_with_core.built[0].metrics
    assert metrics is not None
    text = httpx.get(f"http://127.0.0.1:{metrics.port}/metrics", timeout=10).text
    counts = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "sigwebhook_pull_secret_lookups_total"
    }
    assert counts[(("object", "secret"), ("result", "api_call"))] == 1
    assert counts[(("object", "secret"), ("result", "hit"))] == 4
    assert counts[(("object", "serviceaccount"), ("result", "api_call"))] == 0


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


def test_the_mutating_webhook_pins_a_private_image_verified_with_the_pods_credentials(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    webhook = start_with_core(config(tls_registry, key_pairs["ecdsa-p256"]), cluster(tls_registry))

    def patch_of(body: dict[str, Any]) -> list[dict[str, Any]]:
        response = webhook.post(body, path="/mutate").json()["response"]
        assert response["allowed"] is True
        return json.loads(base64.b64decode(response["patch"])) if "patch" in response else []

    pinned = patch_of(pod_review(private_image, secrets=("regcred",)))
    replaced = [op for op in pinned if op["op"] == "replace"]
    assert [op["path"] for op in replaced] == ["/spec/containers/0/image"]
    assert replaced[0]["value"].startswith(f"{tls_registry.host}/podcreds/app@sha256:")
    assert patch_of(pod_review(private_image)) == []  # not verified without credentials: not pinned


def test_pods_that_need_no_verification_read_no_secret(
    start_with_core: Start, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], private_image: str
) -> None:
    core = cluster(tls_registry)
    settings = config(tls_registry, key_pairs["ecdsa-p256"])
    settings["exemptImages"] = [f"{tls_registry.host}/podcreds/exempt/**"]
    webhook = start_with_core(settings, core)
    assert answer(webhook, pod_review(private_image, namespace="kube-system", secrets=("regcred",)))[
        "allowed"
    ]
    exempt = f"{tls_registry.host}/podcreds/exempt/tool:1"
    assert answer(webhook, pod_review(exempt, secrets=("regcred",)))["allowed"] is True
    assert core.reads == []
