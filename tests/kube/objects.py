"""Kubernetes objects the kube and end-to-end tests create through the API server: namespaces, the
webhook's RBAC on named Secrets, key Secrets in cosign's layout, a ValidatingWebhookConfiguration
with a `url:` clientConfig, pods, and the dry-run probe that waits for a webhook to take effect.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

WEBHOOK_USER = "sigwebhook"


def create_namespace(admin: k8s.ApiClient, name: str) -> None:
    k8s.CoreV1Api(admin).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))


def grant_secret_read(
    admin: k8s.ApiClient, namespace: str, names: list[str], user: str = WEBHOOK_USER
) -> None:
    """A Role with get/list/watch on the Secrets `names` only, bound to `user` (the chart's RBAC)."""
    rbac = k8s.RbacAuthorizationV1Api(admin)
    role = f"{user}-read-keys"
    rbac.create_namespaced_role(
        namespace,
        k8s.V1Role(
            metadata=k8s.V1ObjectMeta(name=role),
            rules=[
                k8s.V1PolicyRule(
                    api_groups=[""],
                    resources=["secrets"],
                    resource_names=names,
                    verbs=["get", "list", "watch"],
                )
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name=role),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=role),
            subjects=[k8s.RbacV1Subject(kind="User", name=user, api_group="rbac.authorization.k8s.io")],
        ),
    )


def cosign_key_secret(
    namespace: str, name: str, public_pem: bytes, private_pem: bytes = b"", password: bytes = b""
) -> k8s.V1Secret:
    """The Secret `cosign generate-key-pair k8s://namespace/name` writes (Opaque, three entries)."""
    return k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(namespace=namespace, name=name),
        type="Opaque",
        string_data={
            "cosign.pub": public_pem.decode(),
            "cosign.key": private_pem.decode(),
            "cosign.password": password.decode(),
        },
    )


def label_namespace(admin: k8s.ApiClient, name: str, labels: dict[str, str]) -> None:
    k8s.CoreV1Api(admin).patch_namespace(name, {"metadata": {"labels": labels}})


def register_validating_webhook(
    admin: k8s.ApiClient, name: str, url: str, ca_pem: bytes, namespace_labels: dict[str, str]
) -> None:
    """A ValidatingWebhookConfiguration as the chart installs it, but with a `url:` clientConfig
    (no Service can reach 127.0.0.1) and only for namespaces carrying `namespace_labels` (v1.20 has
    no automatic `kubernetes.io/metadata.name` label)."""
    webhook = k8s.V1ValidatingWebhook(
        name=f"{name}.sigwebhook.test",
        client_config=k8s.AdmissionregistrationV1WebhookClientConfig(
            url=url, ca_bundle=base64.b64encode(ca_pem).decode()
        ),
        rules=[
            k8s.V1RuleWithOperations(
                api_groups=[""],
                api_versions=["v1"],
                operations=["CREATE", "UPDATE"],
                resources=["pods", "pods/ephemeralcontainers"],
                scope="Namespaced",
            )
        ],
        namespace_selector=k8s.V1LabelSelector(match_labels=namespace_labels),
        failure_policy="Fail",
        side_effects="None",
        admission_review_versions=["v1"],
        timeout_seconds=10,
    )
    k8s.AdmissionregistrationV1Api(admin).create_validating_webhook_configuration(
        k8s.V1ValidatingWebhookConfiguration(metadata=k8s.V1ObjectMeta(name=name), webhooks=[webhook])
    )


def pod(name: str, *images: str, init: tuple[str, ...] = ()) -> k8s.V1Pod:
    """A pod with one container per image (and init containers), as `kubectl run` would make."""
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name=f"c{i}", image=image) for i, image in enumerate(images)],
            init_containers=[k8s.V1Container(name=f"init{i}", image=image) for i, image in enumerate(init)]
            or None,
        ),
    )


def admission_error(call: Callable[[], object]) -> str | None:
    """Run an API call; None when it succeeded, else the API server's message (webhook denials
    come back as `admission webhook "NAME" denied the request: MESSAGE`)."""
    try:
        call()
    except k8s.ApiException as exc:
        try:
            return str(json.loads(exc.body or "{}").get("message", exc.reason))
        except ValueError:
            return str(exc.reason)
    return None


def wait_for_webhook(admin: k8s.ApiClient, namespace: str, image: str, timeout: float = 30.0) -> str:
    """Dry-run pod creations (webhooks with sideEffects None are called for dry runs, nothing is
    stored) until the webhook answers: it takes the API server about a second to pick up a new
    configuration. Returns the first message that came from the webhook call."""
    core = k8s.CoreV1Api(admin)
    deadline = time.monotonic() + timeout
    last: str | None = None
    while time.monotonic() < deadline:
        last = admission_error(
            lambda: core.create_namespaced_pod(namespace, pod("probe", image), dry_run="All")
        )
        if last and ("admission webhook" in last or "failed calling webhook" in last):
            return last
        time.sleep(0.1)
    pytest.fail(f"the validating webhook did not take effect within {timeout:.0f}s (last answer: {last})")
