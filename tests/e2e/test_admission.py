"""End to end: a real kube-apiserver calls a real `sigwebhook serve` for every pod it admits.

The set-up is a cluster in miniature: etcd + kube-apiserver v1.20 (`tests.fixtures.kube`), the
local `docker-registry` holding images signed by `sigwebhook sign`, the key Secret in the layout
`cosign generate-key-pair k8s://e2e-keys/cosign` writes, a Role giving the webhook's user
get/list/watch on that Secret only, `sigwebhook serve` as a subprocess with a kubeconfig for that
user, and a ValidatingWebhookConfiguration (`url:` clientConfig, the test CA as caBundle,
failurePolicy Fail). A second policy trusts one CI identity keylessly: its images are signed by a
private Sigstore instance whose trusted root the config names under `trustedRoots`. Pods are then created through the API server with the `kubernetes` client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client as k8s

from tests.e2e.stack import APPS, KEYS, OTHER_WORKFLOW, WEBHOOK_NAME, E2EStack, start_stack
from tests.fixtures.kube import KubeCluster, admission_error, pod
from tests.fixtures.registry import TestRegistry
from tests.support.sigstore.instance import GITHUB, WORKFLOW

pytestmark = pytest.mark.e2e
DENIED = f'admission webhook "{WEBHOOK_NAME}" denied the request: '


@pytest.fixture(scope="module")
def stack(
    kube_cluster: KubeCluster, plain_registry: TestRegistry, tls_registry: TestRegistry
) -> Iterator[E2EStack]:
    with start_stack(kube_cluster, plain_registry, tls_registry) as running:
        yield running


@pytest.fixture(autouse=True)
def webhook_running(stack: E2EStack) -> None:
    """A test that stopped the webhook and could not restart it must not fail the tests after it."""
    stack.webhook.ensure_running()


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def create(stack: E2EStack, body: k8s.V1Pod, dry_run: bool = False) -> str | None:
    """Create a pod in the apps namespace; None when stored, else the API server's message."""
    core = k8s.CoreV1Api(stack.cluster.admin)
    return admission_error(lambda: core.create_namespaced_pod(APPS, body, dry_run="All" if dry_run else None))


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll (a watch event reaches the webhook within milliseconds; allow a few seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def denied(message: str | None) -> bool:
    """The webhook itself refused (not a failure to call it, nor any other API error)."""
    return message is not None and message.startswith(DENIED)


def test_a_signed_pod_is_stored(stack: E2EStack) -> None:
    name = unique("signed")
    assert create(stack, pod(name, stack.signed_by_a)) is None
    stored = k8s.CoreV1Api(stack.cluster.admin).read_namespaced_pod(name, APPS)
    assert stored.spec.containers[0].image == stack.signed_by_a


def test_an_unsigned_pod_is_refused_with_the_webhooks_message(stack: E2EStack) -> None:
    name = unique("unsigned")
    message = create(stack, pod(name, stack.signed_by_a, stack.unsigned))
    assert message is not None and message.startswith(DENIED), message
    assert "spec.containers[1] (c1)" in message and stack.unsigned in message
    assert "spec.containers[0]" not in message  # the signed container is not what failed
    assert admission_error(lambda: k8s.CoreV1Api(stack.cluster.admin).read_namespaced_pod(name, APPS))


def test_a_keyless_policy_admits_the_right_identitys_image_in_both_layouts(stack: E2EStack) -> None:
    for name in ("right-v2", "right-v3"):
        pod_name = unique(f"keyless-{name}")
        assert create(stack, pod(pod_name, stack.keyless[name])) is None, name
        stored = k8s.CoreV1Api(stack.cluster.admin).read_namespaced_pod(pod_name, APPS)
        assert stored.spec.containers[0].image == stack.keyless[name]
    audit = stack.webhook.log.read_text(errors="replace")
    assert f"verified by {WORKFLOW} (issuer {GITHUB})" in audit  # the audit line names the identity


def test_a_keyless_policy_denies_another_identitys_image_naming_that_identity(stack: E2EStack) -> None:
    name = unique("keyless-other")
    message = create(stack, pod(name, stack.keyless["right-v3"], stack.keyless["other"]))
    assert denied(message), message
    assert message is not None and "spec.containers[1] (c1)" in message and stack.keyless["other"] in message
    assert (
        'keyless identities of policy "e2e-keyless"' in message and f"signed by {OTHER_WORKFLOW}" in message
    )
    assert "spec.containers[0]" not in message  # the right identity's image is not what failed


def test_an_unsigned_init_container_is_refused(stack: E2EStack) -> None:
    message = create(stack, pod(unique("init"), stack.signed_by_a, init=(stack.unsigned,)))
    assert message is not None and message.startswith(DENIED) and "spec.initContainers[0] (init0)" in message


def test_updating_a_stored_pod_to_an_unsigned_image_is_refused(stack: E2EStack) -> None:
    name = unique("update")
    assert create(stack, pod(name, stack.signed_by_a)) is None
    core = k8s.CoreV1Api(stack.cluster.admin)
    patch = {"spec": {"containers": [{"name": "c0", "image": stack.unsigned}]}}
    message = admission_error(lambda: core.patch_namespaced_pod(name, APPS, patch))
    assert message is not None and message.startswith(DENIED) and stack.unsigned in message
    assert core.read_namespaced_pod(name, APPS).spec.containers[0].image == stack.signed_by_a


def test_an_unsigned_ephemeral_container_is_refused_and_a_signed_one_admitted(stack: E2EStack) -> None:
    """`kubectl debug` adds containers through the pods/ephemeralcontainers subresource; on v1.20
    the webhook receives an `EphemeralContainers` object (samples/ephemeralcontainers-*.json)."""
    name = unique("debug")
    assert create(stack, pod(name, stack.signed_by_a)) is None
    core = k8s.CoreV1Api(stack.cluster.admin)

    def add(container: str, image: str) -> str | None:
        patch = {"ephemeralContainers": [{"name": container, "image": image, "targetContainerName": "c0"}]}
        return admission_error(lambda: core.patch_namespaced_pod_ephemeralcontainers(name, APPS, patch))

    message = add("debug", stack.unsigned)
    assert message is not None and message.startswith(DENIED), message
    assert "ephemeralContainers[0] (debug)" in message and stack.unsigned in message
    assert add("debug", stack.signed_by_a) is None


def test_rotating_the_key_in_its_secret_changes_the_next_answer_without_a_restart(stack: E2EStack) -> None:
    started = stack.webhook.pid
    assert denied(create(stack, pod(unique("before"), stack.signed_by_b), dry_run=True))
    stack.rotate_key(stack.key_b.public.read_bytes())
    try:
        assert eventually(lambda: create(stack, pod(unique("b"), stack.signed_by_b), dry_run=True) is None)
        message = create(stack, pod(unique("a"), stack.signed_by_a), dry_run=True)
        assert message is not None and message.startswith(DENIED)
    finally:
        stack.rotate_key(stack.key_a.public.read_bytes())
        assert eventually(lambda: create(stack, pod(unique("a"), stack.signed_by_a), dry_run=True) is None)
    assert stack.webhook.pid == started  # the same process all along


def test_a_deleted_key_secret_fails_closed_and_a_recreated_one_is_trusted_again(stack: E2EStack) -> None:
    core = k8s.CoreV1Api(stack.cluster.admin)
    saved = core.read_namespaced_secret("cosign", KEYS)
    core.delete_namespaced_secret("cosign", KEYS)
    try:
        assert eventually(lambda: denied(create(stack, pod(unique("gone"), stack.signed_by_a), dry_run=True)))
        message = create(stack, pod(unique("gone"), stack.signed_by_a), dry_run=True)
        assert message is not None and message.startswith(DENIED) and f"k8s://{KEYS}/cosign" in message, (
            message
        )
    finally:
        saved.metadata = k8s.V1ObjectMeta(name="cosign", namespace=KEYS)
        core.create_namespaced_secret(KEYS, saved)
    assert eventually(lambda: create(stack, pod(unique("back"), stack.signed_by_a), dry_run=True) is None)


def test_with_the_webhook_stopped_failure_policy_fail_refuses_pods(stack: E2EStack) -> None:
    stack.webhook.stop()
    try:
        message = create(stack, pod(unique("down"), stack.signed_by_a))
        assert message is not None and "failed calling webhook" in message, message
    finally:
        stack.webhook.start()
    assert eventually(lambda: create(stack, pod(unique("up"), stack.signed_by_a), dry_run=True) is None)


def test_a_private_registry_is_reached_with_the_pull_secret_credentials(stack: E2EStack) -> None:
    """The webhook has no other credentials (no dockerConfigFile, no HOME): only the watched
    `kubernetes.io/dockerconfigjson` Secret can let it read the private registry."""
    assert create(stack, pod(unique("private"), stack.private)) is None


def test_rotated_pull_credentials_apply_and_a_broken_pull_secret_keeps_the_last_good(stack: E2EStack) -> None:
    core = k8s.CoreV1Api(stack.cluster.admin)
    wrong = json.dumps(
        {
            "auths": {
                h: {"username": "sigwebhook", "password": "wrong"}
                for h in json.loads(stack.pull_config)["auths"]
            }
        }
    )
    try:
        core.patch_namespaced_secret("regcred", KEYS, {"stringData": {".dockerconfigjson": wrong}})
        assert eventually(lambda: denied(create(stack, pod(unique("private"), stack.private), dry_run=True)))
        core.patch_namespaced_secret(
            "regcred", KEYS, {"stringData": {".dockerconfigjson": stack.pull_config}}
        )
        assert eventually(lambda: create(stack, pod(unique("private"), stack.private), dry_run=True) is None)
        seen = stack.webhook.log.read_text(errors="replace").count("keeping its last good value")
        core.patch_namespaced_secret("regcred", KEYS, {"stringData": {".dockerconfigjson": '{"auths": []}'}})
        # the API server checks only that it is JSON; once the webhook has seen it, it keeps the last good
        assert eventually(
            lambda: stack.webhook.log.read_text(errors="replace").count("keeping its last good value") > seen
        ), "the webhook never saw the broken pull Secret"
        assert create(stack, pod(unique("private"), stack.private), dry_run=True) is None
    finally:
        core.patch_namespaced_secret(
            "regcred", KEYS, {"stringData": {".dockerconfigjson": stack.pull_config}}
        )


def test_the_webhook_user_reads_only_the_key_secret(stack: E2EStack) -> None:
    core = k8s.CoreV1Api(stack.cluster.webhook)
    assert core.list_namespaced_secret(KEYS, field_selector="metadata.name=cosign").items
    message = admission_error(lambda: core.list_namespaced_secret(KEYS))
    assert message is not None and "forbidden" in message
    message = admission_error(
        lambda: core.list_namespaced_secret(APPS, field_selector="metadata.name=cosign")
    )
    assert message is not None and "forbidden" in message
