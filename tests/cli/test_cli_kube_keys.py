"""`sigwebhook verify --key k8s://ns/name` reads the key from a Secret in a real kube-apiserver."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.fixtures.kube import KubeCluster, cosign_key_secret, create_namespace, write_kubeconfig
from tests.fixtures.signing import KeyPair, run_cli, sign_image
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry

pytestmark = pytest.mark.e2e


@pytest.fixture
def key_secret(kube_cluster: KubeCluster, key_pairs: dict[str, KeyPair]) -> str:
    """A namespace holding the Secret `cosign generate-key-pair k8s://…` would write; its reference."""
    namespace = f"cli-keys-{uuid.uuid4().hex[:8]}"
    create_namespace(kube_cluster.admin, namespace)
    pair = key_pairs["ecdsa-p256"]
    k8s.CoreV1Api(kube_cluster.admin).create_namespaced_secret(
        namespace, cosign_key_secret(namespace, "signing", pair.public.read_bytes())
    )
    return f"k8s://{namespace}/signing"


@pytest.fixture
def admin_kubeconfig(kube_cluster: KubeCluster, tmp_path: Path) -> Path:
    return write_kubeconfig(
        tmp_path / "admin.kubeconfig",
        kube_cluster.url,
        kube_cluster.ca_file,
        "admin",
        kube_cluster.admin_token,
    )


def test_key_from_a_secret_verifies_a_signed_image(
    plain_registry: TestRegistry,
    unique_repo: Callable[[str], str],
    key_pairs: dict[str, KeyPair],
    key_secret: str,
    admin_kubeconfig: Path,
) -> None:
    repo = unique_repo("cli/kube")
    push_image(plain_registry, repo, "v1")
    image = f"{plain_registry.host}/{repo}:v1"
    sign_image(image, key_pairs["ecdsa-p256"], ["--insecure-registry", plain_registry.host])
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        key_secret,
        "--kubeconfig",
        str(admin_kubeconfig),
        "--insecure-registry",
        plain_registry.host,
        "-o",
        "json",
        image,
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)
    assert [s["key"] for s in report["signatures"]] == [f"{key_secret}/cosign.pub"]


def test_missing_secret_is_one_clear_line(key_secret: str, admin_kubeconfig: Path) -> None:
    missing = key_secret.rsplit("/", 1)[0] + "/absent"
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        missing,
        "--kubeconfig",
        str(admin_kubeconfig),
        "127.0.0.1:9/a:v1",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"sigwebhook: error: --key {missing}: Secret absent not found in namespace {missing.split('/')[2]}"
    ]


def test_a_user_without_rights_gets_a_clear_error(kube_cluster: KubeCluster, key_secret: str) -> None:
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        key_secret,
        "--kubeconfig",
        str(kube_cluster.webhook_kubeconfig),
        "127.0.0.1:9/a:v1",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "forbidden" in result.stderr.lower() or "denied" in result.stderr.lower()
