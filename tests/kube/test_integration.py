"""The adapter against a real kube-apiserver v1.20 + etcd, as the webhook's RBAC-restricted user.

Checks the RBAC the chart grants is enough and no more: a Role with `resourceNames` and
get/list/watch lets the adapter list + watch its Secrets (v1.20 authorizes a list/watch narrowed by
`fieldSelector=metadata.name=NAME` against resourceNames), and anything else is a clear 403.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from app.core.errors import ClusterAccessDenied, ConfigError
from app.core.trust.keys import load_public_key
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, connect
from app.kube.keysecrets import SecretKeyStore
from tests.fixtures.kube import KubeCluster, cosign_key_secret, create_namespace, grant_secret_read
from tests.kube.fakes import public_pem

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll for a watch to deliver (the API server pushes within milliseconds; allow seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def keys_namespace(kube_cluster: KubeCluster) -> str:
    """A fresh namespace with Secrets `cosign` (readable by the webhook user) and `other` (not)."""
    namespace = f"keys-{uuid.uuid4().hex[:8]}"
    admin = kube_cluster.admin
    create_namespace(admin, namespace)
    core = k8s.CoreV1Api(admin)
    core.create_namespaced_secret(
        namespace, cosign_key_secret(namespace, "cosign", public_pem(), b"KEY", b"pw")
    )
    core.create_namespaced_secret(
        namespace, cosign_key_secret(namespace, "other", public_pem(), b"KEY", b"pw")
    )
    grant_secret_read(admin, namespace, ["cosign"])
    return namespace


def test_the_webhook_user_can_list_its_secret_through_a_kubeconfig(
    kube_cluster: KubeCluster, keys_namespace: str
) -> None:
    api = connect(kube_cluster.webhook_kubeconfig)
    secret, rv = api.list_secret(SecretRef(keys_namespace, "cosign"))
    assert secret is not None and secret.data["cosign.password"] == b"pw" and rv


def test_a_secret_outside_the_role_is_a_clear_403(kube_cluster: KubeCluster, keys_namespace: str) -> None:
    api = connect(kube_cluster.webhook_kubeconfig)
    with pytest.raises(ClusterAccessDenied) as caught:
        api.list_secret(SecretRef(keys_namespace, "other"))
    assert "HTTP 403" in caught.value.reason
    assert 'User "sigwebhook" cannot list resource "secrets"' in caught.value.reason
    with pytest.raises(ClusterAccessDenied):
        api.list_secret(SecretRef("default", "cosign"))


def test_a_list_without_the_name_selector_is_refused_by_a_resource_names_role(
    kube_cluster: KubeCluster, keys_namespace: str
) -> None:
    core = k8s.CoreV1Api(kube_cluster.webhook)
    with pytest.raises(k8s.ApiException) as caught:
        core.list_namespaced_secret(keys_namespace)
    assert caught.value.status == 403
    assert core.list_namespaced_secret(keys_namespace, field_selector="metadata.name=cosign").items


def test_start_up_refuses_a_secret_the_user_may_not_read(
    kube_cluster: KubeCluster, keys_namespace: str
) -> None:
    store = SecretKeyStore(connect(kube_cluster.webhook_kubeconfig), [SecretRef(keys_namespace, "other")])
    with pytest.raises(ConfigError, match=f"key Secret k8s://{keys_namespace}/other: cannot list Secret"):
        store.load()


def test_the_key_store_follows_rotation_and_deletion_over_a_real_watch(
    kube_cluster: KubeCluster, keys_namespace: str
) -> None:
    ref = SecretRef(keys_namespace, "cosign")
    store = SecretKeyStore(connect(kube_cluster.webhook_kubeconfig), [ref], watch_timeout=30)
    store.start()
    try:
        first = store.snapshot().keys_of(ref)[0].fingerprint
        rotated = public_pem()
        core = k8s.CoreV1Api(kube_cluster.admin)
        core.patch_namespaced_secret(
            "cosign", keys_namespace, {"stringData": {"cosign.pub": rotated.decode()}}
        )
        expected = load_public_key(rotated, "rotated").fingerprint
        assert eventually(lambda: [k.fingerprint for k in store.snapshot().keys_of(ref)] == [expected])
        assert first != expected

        core.patch_namespaced_secret("cosign", keys_namespace, {"stringData": {"cosign.pub": "garbage"}})
        time.sleep(0.5)  # give the watch time to deliver the broken version, which must change nothing
        assert [k.fingerprint for k in store.snapshot().keys_of(ref)] == [expected]

        core.delete_namespaced_secret("cosign", keys_namespace)
        assert eventually(lambda: store.snapshot().keys_of(ref) == ())
        assert "deleted" in store.snapshot().problems[ref]

        core.create_namespaced_secret(
            keys_namespace, cosign_key_secret(keys_namespace, "cosign", rotated, b"K", b"p")
        )
        assert eventually(lambda: [k.fingerprint for k in store.snapshot().keys_of(ref)] == [expected])
    finally:
        store.stop()


def test_a_watch_resumes_after_the_server_ends_it(kube_cluster: KubeCluster, keys_namespace: str) -> None:
    ref = SecretRef(keys_namespace, "cosign")
    store = SecretKeyStore(KubeApi(k8s.CoreV1Api(kube_cluster.webhook)), [ref], watch_timeout=1)
    store.start()
    try:
        time.sleep(1.5)  # the server closes the 1 s watch; the follower must open the next one
        rotated = public_pem()
        k8s.CoreV1Api(kube_cluster.admin).patch_namespaced_secret(
            "cosign", keys_namespace, {"stringData": {"cosign.pub": rotated.decode()}}
        )
        expected = load_public_key(rotated, "rotated").fingerprint
        assert eventually(lambda: [k.fingerprint for k in store.snapshot().keys_of(ref)] == [expected])
    finally:
        store.stop()
