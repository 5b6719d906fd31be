"""Workloads and warn mode through the real kube-apiserver (v1.20).

The webhook runs in process (real uvicorn, real TLS) and is registered with the API server with the
rules of `examples/kubernetes/webhook-configurations.yaml`: pods and every workload resource. Objects
are then created through the API server over HTTPS, so the API server itself builds the reviews and
returns the warnings (as `Warning` headers). The configuration selects only this test's namespace
(by label) and is deleted afterwards: the API server is shared by the session.

Digest pinning through the API server is in `tests/e2e/test_mutate_apiserver.py` (it needs the
project's kube-apiserver build with reflect2 1.0.2, `scripts/build-kube-apiserver.sh`).
"""

from __future__ import annotations

import base64
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.kube import KubeCluster
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.support.certs import ServerTls

pytestmark = pytest.mark.e2e

KEY = "ecdsa-p256"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"
RULES = [
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
     "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"], "scope": "Namespaced"},
    {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
     "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"], "scope": "Namespaced"},
    {"apiGroups": ["batch"], "apiVersions": ["v1", "v1beta1"], "operations": ["CREATE", "UPDATE"],
     "resources": ["jobs", "cronjobs"], "scope": "Namespaced"},
]  # fmt: skip


class Api:
    """The API server as the admin, over HTTPS (httpx: the `Warning` headers are visible)."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.http = httpx.Client(
            base_url=cluster.url,
            verify=ssl.create_default_context(cafile=str(cluster.ca_file)),
            headers={"Authorization": f"Bearer {cluster.admin_token}"},
            timeout=30,
        )

    def create(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body)

    def delete(self, path: str) -> None:
        self.http.delete(path)


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> dict[str, str]:
    found: dict[str, str] = {}
    for repo, signed in (("team/signed", True), ("team/unsigned", False), ("audit/unsigned", False)):
        push_image(plain_registry, f"apiserver/{repo}", "1", content=f"apiserver {repo}".encode())
        found[repo] = f"{plain_registry.host}/apiserver/{repo}:1"
        if signed:
            sign_image(found[repo], key_pairs[KEY], ["--insecure-registry", plain_registry.host])
    return found


@pytest.fixture(scope="module")
def namespace(
    kube_cluster: KubeCluster,
    images: dict[str, str],
    key_pairs: dict[str, KeyPair],
    plain_registry: TestRegistry,
    webhook_tls: ServerTls,
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> Iterator[str]:
    """A namespace watched by a validating webhook registered for it."""
    key, under = key_pairs[KEY], f"{plain_registry.host}/apiserver"
    webhook = module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "policies": [
                key_policy("team", f"{under}/team/**", key),
                key_policy("audit", f"{under}/audit/**", key, mode="warn"),
            ],
        }
    )
    api = Api(kube_cluster)
    name = f"workloads-{uuid.uuid4().hex[:8]}"
    label = {"sigwebhook-test": name}
    assert api.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": label}}).is_success
    ca = base64.b64encode(webhook_tls.ca_file.read_bytes()).decode()

    def entry(path: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": f"{path.strip('/')}.{name}.sigwebhook.test",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "timeoutSeconds": 10,
            "clientConfig": {"url": f"{webhook.url}{path}", "caBundle": ca},
            "rules": rules,
            "namespaceSelector": {"matchLabels": label},
        }

    assert api.create(
        f"{ADMISSION}/validatingwebhookconfigurations",
        {"metadata": {"name": name}, "webhooks": [entry("/validate", RULES)]},
    ).is_success
    _wait_until_called(api, name, images["team/unsigned"])
    yield name
    api.delete(f"{ADMISSION}/validatingwebhookconfigurations/{name}")
    api.delete(f"/api/v1/namespaces/{name}")


def _wait_until_called(api: Api, namespace: str, unsigned: str, timeout: float = 30) -> None:
    """Dry-run a pod until the webhook denies it: the API server takes a moment to load a configuration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = api.http.post(f"/api/v1/namespaces/{namespace}/pods?dryRun=All", json=pod("probe", unsigned))
        if reply.status_code == 403 and "admission webhook" in reply.text:
            return
        time.sleep(0.2)
    pytest.fail("the webhook configurations did not take effect")


def pod_spec(image: str) -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": image}]}


def pod(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec(image)}


def deployment(name: str, image: str) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": pod_spec(image)}
    spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def cronjob(name: str, image: str) -> dict[str, Any]:
    template = {"spec": dict(pod_spec(image), restartPolicy="OnFailure")}
    spec = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": name}, "spec": spec}


def message(reply: httpx.Response) -> str:
    return str(reply.json().get("message", ""))


def test_an_unsigned_deployment_is_refused_by_kubectl_apply_naming_deployment_and_container(
    kube_cluster: KubeCluster, namespace: str, images: dict[str, str]
) -> None:
    reply = Api(kube_cluster).create(
        f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("web", images["team/unsigned"])
    )
    assert reply.status_code == 403, reply.text
    assert message(reply).endswith(
        f"denied the request: Deployment web: spec.template.spec.containers[0] (app) {images['team/unsigned']}: "
        'no signature verified by the keys of policy "team" (no signatures found)'
    )


def test_a_signed_deployment_is_stored_as_written(
    kube_cluster: KubeCluster, namespace: str, images: dict[str, str]
) -> None:
    reply = Api(kube_cluster).create(
        f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("ok", images["team/signed"])
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["spec"]["template"]["spec"]["containers"][0]["image"] == images["team/signed"]


def test_an_unsigned_batch_v1beta1_cronjob_is_refused(
    kube_cluster: KubeCluster, namespace: str, images: dict[str, str]
) -> None:
    reply = Api(kube_cluster).create(
        f"/apis/batch/v1beta1/namespaces/{namespace}/cronjobs", cronjob("nightly", images["team/unsigned"])
    )
    assert reply.status_code == 403
    assert "CronJob nightly: spec.jobTemplate.spec.template.spec.containers[0] (app)" in message(reply)


def test_a_warn_mode_pod_is_stored_and_kubectl_gets_the_warning(
    kube_cluster: KubeCluster, namespace: str, images: dict[str, str]
) -> None:
    reply = Api(kube_cluster).create(
        f"/api/v1/namespaces/{namespace}/pods", pod("warned", images["audit/unsigned"])
    )
    assert reply.status_code == 201, reply.text
    # RFC 7234 Warning header: `299 - "text"`, quotes inside the text escaped
    warning = reply.headers.get("warning", "")
    assert warning.startswith('299 - "')
    text = warning.removeprefix('299 - "').removesuffix('"').replace('\\"', '"')
    assert text == (
        f'spec.containers[0] (app) {images["audit/unsigned"]}: no signature verified by the keys of policy "audit" '
        "(no signatures found)"
    )


def test_a_deployment_scaled_is_admitted_and_one_changed_to_an_unsigned_image_is_refused(
    kube_cluster: KubeCluster, namespace: str, images: dict[str, str]
) -> None:
    # The API server sends UPDATEs of workloads too: scaling changes no image; a new image is verified.
    api = Api(kube_cluster)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    assert api.create(path, deployment("scaled", images["team/signed"])).status_code == 201
    reply = api.http.patch(
        f"{path}/scaled",
        json={"spec": {"replicas": 4}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status_code == 200, reply.text
    to_unsigned = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": images["team/unsigned"]}]}}}
    }
    reply = api.http.patch(
        f"{path}/scaled", json=to_unsigned, headers={"Content-Type": "application/strategic-merge-patch+json"}
    )
    assert (
        reply.status_code == 403
        and "Deployment scaled: spec.template.spec.containers[0] (app)" in message(reply)
    )
