"""Workloads over HTTPS against the real registry: every kind the API server sends, signed and unsigned.

Each review is a capture from kube-apiserver 1.20 (`tests/samples/`) with its template's images
replaced by images pushed to the real `docker-registry` and signed by the real `sigwebhook sign`.
The webhook is the real uvicorn server built by `build_webhook`, asked over real TLS.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.webhook.reviews import WORKLOAD_SAMPLES, workload, workload_review

KEY = "ecdsa-p256"
NO_SIG = 'no signature verified by the keys of policy "team" (no signatures found)'


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> dict[str, str]:
    """`signed`, `signed-v3` (bundle) and `unsigned` images under the test registry (and `<name> digest`)."""
    host = plain_registry.host
    found: dict[str, str] = {}
    for name, bundle in (("signed", False), ("signed-v3", True), ("unsigned", None)):
        digest = push_image(plain_registry, f"workloads/team/{name}", "1", content=name.encode())
        found[name] = f"{host}/workloads/team/{name}:1"
        found[f"{name} digest"] = str(digest)
        if bundle is not None:
            sign_image(found[name], key_pairs[KEY], ["--insecure-registry", host], bundle=bundle)
    return found


@pytest.fixture(scope="module")
def webhook(
    images: dict[str, str],
    key_pairs: dict[str, KeyPair],
    plain_registry: TestRegistry,
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> RunningWebhook:
    return module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "policies": [key_policy("team", f"{plain_registry.host}/workloads/team/**", key_pairs[KEY])],
        }
    )


def answer(webhook: RunningWebhook, body: dict[str, Any]) -> dict[str, Any]:
    reply = webhook.post(body)
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    assert response["uid"] == body["request"]["uid"]
    return response


@pytest.mark.parametrize("kind", list(WORKLOAD_SAMPLES))
def test_a_signed_workload_of_every_kind_is_allowed(
    webhook: RunningWebhook, images: dict[str, str], kind: str
) -> None:
    body = workload_review(kind, [("app", images["signed"])], init=[("migrate", images["signed-v3"])])
    response = answer(webhook, body)
    assert response["allowed"] is True, response
    record = webhook.audit[-1]
    assert (record["kind"], record["webhook"]) == (kind, "validate")
    assert [i["verdict"] for i in record["images"]] == ["verified", "verified"]


@pytest.mark.parametrize("kind", list(WORKLOAD_SAMPLES))
def test_an_unsigned_workload_of_every_kind_is_denied_naming_the_workload_and_container(
    webhook: RunningWebhook, images: dict[str, str], kind: str
) -> None:
    body = workload_review(kind, [("app", images["signed"])], init=[("migrate", images["unsigned"])])
    response = answer(webhook, body)
    name = body["request"]["name"]
    prefix = "spec.jobTemplate.spec.template.spec" if kind.endswith("CronJob") else "spec.template.spec"
    assert response["allowed"] is False
    assert response["status"] == {
        "code": 403,
        "message": f"{kind.split()[-1]} {name}: {prefix}.initContainers[0] (migrate) {images['unsigned']}: {NO_SIG}",
    }


def test_a_deployment_update_that_changes_no_image_is_allowed_without_asking_the_registry(
    webhook: RunningWebhook, images: dict[str, str]
) -> None:
    # The template names an unsigned image: verified, it would be denied. Unchanged, it is not asked.
    old = workload("apps/v1 Deployment", [("app", images["unsigned"])])
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    body = workload_review("apps/v1 Deployment", operation="UPDATE", obj=new, old=old)
    response = answer(webhook, body)
    assert response["allowed"] is True
    assert webhook.audit[-1]["summary"] == "no image changed"
    assert [i["verdict"] for i in webhook.audit[-1]["images"]] == ["unchanged"]


def test_a_deployment_update_to_an_unsigned_image_is_denied(
    webhook: RunningWebhook, images: dict[str, str]
) -> None:
    old = workload("apps/v1 Deployment", [("app", images["signed"])])
    new = workload("apps/v1 Deployment", [("app", images["unsigned"])])
    response = answer(webhook, workload_review("apps/v1 Deployment", operation="UPDATE", obj=new, old=old))
    assert response["allowed"] is False and images["unsigned"] in response["status"]["message"]


def test_a_kind_without_a_pod_template_is_refused_with_a_clear_message(webhook: RunningWebhook) -> None:
    body = workload_review("apps/v1 Deployment", [("app", "x:1")])
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    body["request"]["object"] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    response = answer(webhook, body)
    assert response["allowed"] is False
    assert (
        "but was called for v1 ConfigMap: check the rules of the webhook configuration"
        in (response["status"]["message"])
    )


def test_the_audit_record_of_a_workload_names_it_and_carries_the_verified_digest(
    webhook: RunningWebhook, images: dict[str, str]
) -> None:
    answer(webhook, workload_review("batch/v1 Job", [("app", images["signed"])]))
    record = webhook.audit[-1]
    assert (record["name"], record["pod"]) == ("once", None)
    assert record["images"][0]["digest"] == images["signed digest"]
