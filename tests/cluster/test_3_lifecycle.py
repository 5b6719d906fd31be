"""The release through its life on the real node: its pods killed (fail closed, and back by themselves),
a `helm upgrade` with a policy change (no moment where an unsigned pod gets in), `helm test`, and
`helm uninstall` (nothing left that intercepts pods). Runs last: it ends the release.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.cluster.conftest import APPS, DENIED, NAMESPACE, RELEASE, lane_policy, lane_values
from tests.cluster.tools import REGISTRY, push_runnable_image, wait_for

pytestmark = pytest.mark.cluster

UNREACHABLE = "failed calling webhook"


def try_pod(api: k8s.ApiClient, namespace: str, image: str) -> str:
    """Create a pod running `image`: 'admitted' (it is deleted again at once), or the refusal message."""
    name = f"try-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 0},
    }
    core = k8s.CoreV1Api(api)
    try:
        core.create_namespaced_pod(namespace, body)
    except ApiException as exc:
        return str(exc.body)
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    return "admitted"


def webhook_pods(cluster) -> list[str]:
    """The webhook's pods (not those terminating)."""
    selector = cluster.get("-n", NAMESPACE, "deployment", RELEASE)["spec"]["selector"]["matchLabels"]
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = cluster.get("-n", NAMESPACE, "pods", "-l", labels)["items"]
    return sorted(p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp"))


def available(cluster) -> bool:
    status = cluster.get("-n", NAMESPACE, "deployment", RELEASE)["status"]
    return (
        status.get("availableReplicas") == 1
        and status.get("updatedReplicas") == 1
        and status.get("replicas") == 1
    )


@pytest.fixture(scope="module")
def signed_image(release, signing_key) -> str:
    digest = push_runnable_image("lane/apps/lifecycle", "1.0", "lifecycle")
    signing_key.sign(f"{REGISTRY}/lane/apps/lifecycle@{digest}")
    return f"{REGISTRY}/lane/apps/lifecycle:1.0"


def test_with_its_pods_killed_covered_namespaces_refuse_pods_the_release_namespace_works_and_they_come_back(
    release, apps, images, signed_image
):
    unsigned, _ = images["unsigned"]
    cluster, api = release.cluster, release.cluster.api()
    before = webhook_pods(cluster)
    cluster.kubectl_ok(
        "-n", NAMESPACE, "delete", "pods", *before, "--grace-period=0", "--force", "--wait=false"
    )
    # no replica answers: even a signed pod is refused (failurePolicy Fail), with the reason
    outcome = wait_for(lambda: (o := try_pod(api, APPS, signed_image)) != "admitted" and o, 20, "a refusal")
    assert UNREACHABLE in outcome, outcome
    # the release namespace is never sent to the webhook: it keeps working (its own pods come back)
    assert try_pod(api, NAMESPACE, unsigned) == "admitted"
    wait_for(
        lambda: available(cluster) and set(webhook_pods(cluster)).isdisjoint(before), 120, "new webhook pods"
    )
    assert wait_for(lambda: try_pod(api, APPS, signed_image) == "admitted", 30, "admission of a signed pod")
    assert DENIED in try_pod(api, APPS, unsigned)


def test_a_helm_upgrade_with_a_policy_change_rolls_the_pods_and_never_lets_an_unsigned_pod_in(
    release, apps, images, signing_key
):
    unsigned, _ = images["unsigned"]
    cluster, api = release.cluster, release.cluster.api()
    late = push_runnable_image("lane/late/app", "1.0", "late")
    signing_key.sign(f"{REGISTRY}/lane/late/app@{late}")
    late_image = f"{REGISTRY}/lane/late/app:1.0"
    assert "no policy matches" in try_pod(api, APPS, late_image)

    outcomes: list[str] = []
    stop = threading.Event()

    def keep_trying() -> None:  # an unsigned pod, again and again, for the whole upgrade
        while not stop.is_set():
            outcomes.append(try_pod(api, APPS, unsigned))

    values = lane_values()
    values["config"]["policies"].append(lane_policy("late", f"{REGISTRY}/lane/late/**"))
    upgraded = release.values_file.with_name("values-upgrade.yaml")
    upgraded.write_text(yaml.safe_dump(values))
    before = webhook_pods(cluster)
    # three at a time: a gap in registration of a few tens of milliseconds is seen
    trying = [threading.Thread(target=keep_trying) for _ in range(3)]
    for thread in trying:
        thread.start()
    try:
        args = release.install_args()
        args[args.index(str(release.values_file))] = str(upgraded)
        release.helm.ok("upgrade", *args, "--wait", "--timeout", "5m")
        wait_for(lambda: available(cluster), 60, "the upgraded Deployment")
        time.sleep(2)  # keep trying a little after the rollout too
    finally:
        stop.set()
        for thread in trying:
            thread.join()
    assert len(outcomes) >= 20, outcomes
    assert "admitted" not in outcomes, f"an unsigned pod got in during the upgrade ({len(outcomes)} tries)"
    assert all(DENIED in o or UNREACHABLE in o for o in outcomes), {o[:200] for o in outcomes}
    assert set(webhook_pods(cluster)).isdisjoint(before), "a config change must roll the webhook pods"
    assert try_pod(api, APPS, late_image) == "admitted", "the new policy applies after the upgrade"


def test_helm_test_passes(release):
    out = release.helm.ok("test", RELEASE, "-n", NAMESPACE, "--timeout", "3m")
    assert "Phase:" in out and "Succeeded" in out, out


def test_helm_uninstall_leaves_no_webhook_configuration_and_nothing_intercepts_pods(release, apps, images):
    unsigned, _ = images["unsigned"]
    cluster, api = release.cluster, release.cluster.api()
    release.helm.ok("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "3m")
    left = cluster.kubectl_ok(
        "get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o", "name"
    )
    assert left.strip() == "", left
    assert try_pod(api, APPS, unsigned) == "admitted"
