"""End to end: digest pinning through the real kube-apiserver (v1.20): `/mutate` then `/validate`.

The webhook runs in process (real uvicorn, real TLS) and is registered twice, as
`app/core/admission/pinning.py` says to: a MutatingWebhookConfiguration for `/mutate` (reinvocationPolicy
IfNeeded) and a ValidatingWebhookConfiguration for `/validate`, both with a `url:` clientConfig,
the test CA as caBundle, failurePolicy Fail, and a namespaceSelector matching only this module's
namespace (the API server is shared by the session; both configurations and the namespace are
deleted at the end). Pods are created over HTTPS; the API server applies the JSON patch (RFC 6902)
itself and stores the result, which is read back.

This needs the kube-apiserver built by `scripts/build-kube-apiserver.sh` (reflect2 1.0.2): a build
with the vendored reflect2 v1.0.1 and Go >= 1.18 dies with "fatal error: concurrent map iteration and
map write" on the first JSON patch any mutating webhook returns.
"""

from __future__ import annotations

import base64
import contextlib
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
POD_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods", "pods/ephemeralcontainers"],
        "scope": "Namespaced",
    }
]


class Images(dict[str, str]):
    """name → `host/pin/name:1` (by tag); `pinned(name)` → `host/pin/name@sha256:…` (the pushed digest)."""

    digests: dict[str, str]

    def pinned(self, name: str) -> str:
        return self[name].rsplit(":", 1)[0] + "@" + self.digests[name]


class Cluster:
    """The API server as the admin, over HTTPS, in one namespace."""

    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        self.namespace, self.log = namespace, cluster.workdir / "apiserver.log"
        self.http = httpx.Client(
            base_url=cluster.url,
            verify=ssl.create_default_context(cafile=str(cluster.ca_file)),
            headers={"Authorization": f"Bearer {cluster.admin_token}"},
            timeout=30,
        )

    def create_pod(self, name: str, *images: str, dry_run: bool = False) -> httpx.Response:
        path = f"/api/v1/namespaces/{self.namespace}/pods" + ("?dryRun=All" if dry_run else "")
        try:
            return self.http.post(path, json=pod(name, *images))
        except httpx.TransportError as exc:  # e.g. the reflect2 v1.0.1 crash: say why, from its log
            pytest.fail(f"the API server did not answer ({exc!r}); its log says:\n{self.crash()}")

    def crash(self) -> str:
        """Where a Go runtime crash starts in the API server's log (`fatal error:`/`panic:`), else its end."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        starts = [i for i in (text.find("fatal error:"), text.find("panic:")) if i >= 0]
        return text[min(starts) : min(starts) + 2500] if starts else text[-2500:]

    def stored_images(self, name: str) -> list[str] | None:
        """The images of the stored pod `name`, None when there is no such pod."""
        reply = self.http.get(f"/api/v1/namespaces/{self.namespace}/pods/{name}")
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        return [container["image"] for container in reply.json()["spec"]["containers"]]


def pod(name: str, *images: str) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> Images:
    found = Images()
    found.digests = {}
    for name, signed in (("signed", True), ("other", True), ("unsigned", False)):
        digest = push_image(plain_registry, f"pin/{name}", "1", content=f"pin {name}".encode())
        found[name], found.digests[name] = f"{plain_registry.host}/pin/{name}:1", str(digest)
        if signed:
            sign_image(found[name], key_pairs[KEY], ["--insecure-registry", plain_registry.host])
    return found


def webhook_entry(name: str, url: str, ca: str, label: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "timeoutSeconds": 10,
        "clientConfig": {"url": url, "caBundle": ca},
        "rules": POD_RULES,
        "namespaceSelector": {"matchLabels": label},
    }


@pytest.fixture(scope="module")
def cluster(
    kube_cluster: KubeCluster,
    images: Images,
    key_pairs: dict[str, KeyPair],
    plain_registry: TestRegistry,
    webhook_tls: ServerTls,
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> Iterator[Cluster]:
    """A namespace watched by the mutating (`/mutate`) and validating (`/validate`) webhooks."""
    webhook = module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "policies": [
                key_policy("pin", f"{plain_registry.host}/pin/**", key_pairs[KEY], pinDigest="podsOnly")
            ],
        }
    )
    name = f"pinning-{uuid.uuid4().hex[:8]}"
    label = {"sigwebhook-test": name}
    api = Cluster(kube_cluster, name)
    ca = base64.b64encode(webhook_tls.ca_file.read_bytes()).decode()
    mutating = webhook_entry(f"mutate.{name}.sigwebhook.test", f"{webhook.url}/mutate", ca, label)
    mutating["reinvocationPolicy"] = "IfNeeded"
    validating = webhook_entry(f"validate.{name}.sigwebhook.test", f"{webhook.url}/validate", ca, label)
    configurations = (
        ("mutatingwebhookconfigurations", mutating),
        ("validatingwebhookconfigurations", validating),
    )
    assert api.http.post("/api/v1/namespaces", json={"metadata": {"name": name, "labels": label}}).is_success
    try:
        for kind, entry in configurations:
            reply = api.http.post(
                f"{ADMISSION}/{kind}", json={"metadata": {"name": name}, "webhooks": [entry]}
            )
            assert reply.is_success, reply.text
        _wait_until_both_called(api, images)
        yield api
    finally:  # an API server that died must not hide why (the failure above) behind this clean-up's
        with contextlib.suppress(httpx.TransportError):
            for kind, _ in configurations:
                api.http.delete(f"{ADMISSION}/{kind}/{name}")
            api.http.delete(f"/api/v1/namespaces/{name}")
        api.http.close()


def _wait_until_both_called(api: Cluster, images: Images, timeout: float = 30) -> None:
    """Dry runs (both webhooks have sideEffects None, so they are called; nothing is stored) until the
    validating webhook refuses the unsigned image and the mutating one has rewritten a signed one:
    the API server takes a moment to load new configurations."""
    deadline, validating, mutating = time.monotonic() + timeout, False, False
    while time.monotonic() < deadline and not (validating and mutating):
        refused = api.create_pod("probe", images["unsigned"], dry_run=True)
        validating = validating or (refused.status_code == 403 and "admission webhook" in refused.text)
        admitted = api.create_pod("probe", images["other"], dry_run=True)
        mutating = mutating or (admitted.status_code == 201 and "@sha256:" in admitted.text)
        time.sleep(0.2)
    if not (validating and mutating):
        pytest.fail(
            f"the webhook configurations did not take effect (validating {validating}, mutating {mutating})"
        )


def test_a_pod_with_a_signed_image_by_tag_is_stored_pinned_to_the_verified_digest(
    cluster: Cluster, images: Images
) -> None:
    name = unique("signed")
    reply = cluster.create_pod(name, images["signed"])
    assert reply.status_code == 201, reply.text
    assert cluster.stored_images(name) == [images.pinned("signed")]
    assert images.pinned("signed") != images.pinned("other")  # the digest is this image's own


def test_a_pod_with_an_unsigned_image_is_refused_by_the_validating_webhook_and_not_patched(
    cluster: Cluster, images: Images
) -> None:
    name = unique("unsigned")
    reply = cluster.create_pod(name, images["signed"], images["unsigned"])
    assert reply.status_code == 403, reply.text
    message = str(reply.json()["message"])
    assert f'admission webhook "validate.{cluster.namespace}.sigwebhook.test" denied the request' in message
    # the object /validate saw: the signed image pinned by /mutate, the unsigned one as written
    assert f"spec.containers[1] (c1) {images['unsigned']}:" in message, message
    assert images["unsigned"].rsplit(":", 1)[0] + "@" not in message
    assert cluster.stored_images(name) is None


def test_an_already_pinned_image_is_stored_unchanged_beside_one_that_is_pinned(
    cluster: Cluster, images: Images
) -> None:
    name = unique("pinned")
    reply = cluster.create_pod(name, images.pinned("other"), images["signed"])
    assert reply.status_code == 201, reply.text
    assert cluster.stored_images(name) == [images.pinned("other"), images.pinned("signed")]
