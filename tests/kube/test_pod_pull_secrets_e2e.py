"""Pod pull credentials through a real kube-apiserver v1.20: the webhook user holds the RBAC the
chart grants for `registries.podPullSecrets` (get on secrets and serviceaccounts, here as a Role in
one namespace), pods are created through the API server, and the webhook reads their
imagePullSecret to verify a private image (TLS + htpasswd registry)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from app.compose import build_webhook
from app.config import load_settings
from tests.fixtures.kube import (
    WEBHOOK_USER,
    KubeCluster,
    admission_error,
    create_namespace,
    label_namespace,
    register_validating_webhook,
    wait_for_webhook,
)
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook, serve_in_thread

pytestmark = pytest.mark.e2e

LABEL = {"sigwebhook-test": "pod-pull-secrets"}


def grant_pull_secret_reads(admin: k8s.ApiClient, namespace: str) -> None:
    """What the chart grants with podPullSecrets on (there as a ClusterRole): get on secrets and
    serviceaccounts, no list, no watch, no resourceNames (pods may name any Secret)."""
    rbac = k8s.RbacAuthorizationV1Api(admin)
    name = "sigwebhook-pod-pull-secrets"
    rule = k8s.V1PolicyRule(api_groups=[""], resources=["secrets", "serviceaccounts"], verbs=["get"])
    rbac.create_namespaced_role(namespace, k8s.V1Role(metadata=k8s.V1ObjectMeta(name=name), rules=[rule]))
    subject = k8s.RbacV1Subject(kind="User", name=WEBHOOK_USER, api_group="rbac.authorization.k8s.io")
    role = k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=name)
    rbac.create_namespaced_role_binding(
        namespace, k8s.V1RoleBinding(metadata=k8s.V1ObjectMeta(name=name), role_ref=role, subjects=[subject])
    )


@dataclass
class Setup:
    admin: k8s.ApiClient
    granted: str  # a namespace where the webhook may read pull Secrets
    refused: str  # one where it may not
    image: str
    webhook: RunningWebhook


@pytest.fixture
def setup(
    kube_cluster: KubeCluster, tls_registry: TestRegistry, key_pairs: dict[str, KeyPair], tmp_path: Path
) -> Iterator[Setup]:
    admin = kube_cluster.admin
    core = k8s.CoreV1Api(admin)
    suffix = uuid.uuid4().hex[:8]
    granted, refused = f"pull-ok-{suffix}", f"pull-no-{suffix}"
    docker_config = json.dumps(tls_registry.docker_config())
    for namespace in (granted, refused):
        create_namespace(admin, namespace)
        label_namespace(admin, namespace, LABEL)
        core.create_namespaced_secret(
            namespace,
            k8s.V1Secret(
                metadata=k8s.V1ObjectMeta(name="regcred"),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": docker_config},
            ),
        )
        core.create_namespaced_service_account(
            namespace,
            k8s.V1ServiceAccount(
                metadata=k8s.V1ObjectMeta(name="builder"),
                image_pull_secrets=[k8s.V1LocalObjectReference(name="regcred")],
            ),
        )
    grant_pull_secret_reads(admin, granted)

    registry_config = tmp_path / "docker.json"
    registry_config.write_text(docker_config)
    push_image(tls_registry, "e2e-podcreds/app", "1", content=b"e2e-pod-credentials")
    image = f"{tls_registry.host}/e2e-podcreds/app:1"
    access = [
        "--ca-file",
        f"{tls_registry.host}={tls_registry.ca_file}",
        "--registry-config",
        str(registry_config),
    ]
    sign_image(image, key_pairs["ecdsa-p256"], access)

    cert, key = kube_cluster.issue_serving_cert(tmp_path / "tls")
    config = {
        "server": {"host": "127.0.0.1", "tls": {"certFile": str(cert), "keyFile": str(key)}},
        "kubernetes": {"kubeconfig": str(kube_cluster.webhook_kubeconfig)},
        "registries": {"caFiles": {tls_registry.host: str(tls_registry.ca_file)}, "podPullSecrets": True},
        "policies": [key_policy("private", f"{tls_registry.host}/**", key_pairs["ecdsa-p256"])],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    webhook = RunningWebhook("", kube_cluster.ca_file, path)
    built = build_webhook(load_settings(path), audit=webhook.audit_lines.append)
    built.start()
    webhook._stop = built.stop
    serve_in_thread(webhook, built.app, built.certificate)
    name = f"pod-pull-secrets-{suffix}"
    try:
        register_validating_webhook(
            admin, name, f"{webhook.url}/validate", kube_cluster.ca.cert_pem.bytes(), LABEL
        )
        wait_for_webhook(admin, granted, "unsigned.invalid/x:1")
        yield Setup(admin, granted, refused, image, webhook)
    finally:
        with contextlib.suppress(k8s.ApiException):
            k8s.AdmissionregistrationV1Api(admin).delete_validating_webhook_configuration(name)
        webhook.stop()


def private_pod(
    name: str, image: str, secrets: list[str] | None = None, account: str | None = None
) -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="app", image=image)],
            image_pull_secrets=[k8s.V1LocalObjectReference(name=s) for s in secrets or []] or None,
            service_account_name=account,
        ),
    )


def test_a_pod_whose_image_pull_secret_opens_the_private_registry_is_stored(setup: Setup) -> None:
    core = k8s.CoreV1Api(setup.admin)
    assert (
        admission_error(
            lambda: core.create_namespaced_pod(
                setup.granted, private_pod("with-secret", setup.image, ["regcred"])
            )
        )
        is None
    )
    assert core.read_namespaced_pod("with-secret", setup.granted).spec.image_pull_secrets[0].name == "regcred"


def test_a_pod_running_as_a_service_account_with_the_pull_secret_is_stored(setup: Setup) -> None:
    core = k8s.CoreV1Api(setup.admin)
    assert (
        admission_error(
            lambda: core.create_namespaced_pod(
                setup.granted, private_pod("as-builder", setup.image, account="builder")
            )
        )
        is None
    )


def test_a_pod_without_pull_credentials_is_refused_with_the_registrys_reason(setup: Setup) -> None:
    core = k8s.CoreV1Api(setup.admin)
    message = admission_error(
        lambda: core.create_namespaced_pod(setup.granted, private_pod("no-secret", setup.image))
    )
    assert message is not None and "requires authentication and no credentials are configured" in message


def test_where_the_webhook_may_not_read_secrets_the_private_image_is_refused_fail_closed(
    setup: Setup,
) -> None:
    core = k8s.CoreV1Api(setup.admin)
    message = admission_error(
        lambda: core.create_namespaced_pod(setup.refused, private_pod("no-rbac", setup.image, ["regcred"]))
    )
    assert message is not None and "requires authentication" in message
