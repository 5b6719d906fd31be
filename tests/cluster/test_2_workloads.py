"""Workloads on the real node, through `kubectl apply` as a user writes them, in a namespace the release
covers: what is signed runs (and runs the digest that was verified), what is not is refused at apply.
"""

from __future__ import annotations

import json

import pytest

from tests.cluster.conftest import APPS, DENIED
from tests.cluster.tools import REGISTRY, push_runnable_image, wait_for

pytestmark = pytest.mark.cluster


def deployment(name: str, image: str, replicas: int = 1) -> str:
    """A Deployment as a user writes it (JSON is YAML): one container `app`."""
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": APPS},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [{"name": "app", "image": image}],
                        "terminationGracePeriodSeconds": 1,
                    },
                },
            },
        }
    )


def pods_of(cluster, app: str) -> list[dict]:
    return cluster.get("-n", APPS, "pods", "-l", f"app={app}")["items"]


def running(cluster, app: str, count: int) -> list[dict] | None:
    pods = pods_of(cluster, app)
    ready = [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and p["status"]["containerStatuses"][0]["ready"]
    ]
    return ready if len(pods) == count and len(ready) == count else None


def test_a_signed_deployment_runs_and_its_pods_run_the_verified_digest(apps, images):
    image, digest = images["signed"]
    apps.kubectl_ok("apply", "-f", "-", stdin=deployment("signed", image, replicas=2))
    pods = wait_for(lambda: running(apps, "signed", 2), 90, "2 Running pods of the signed Deployment")
    for pod in pods:
        # pinned when admitted (pinDigest: pods), and containerd ran exactly that digest
        assert pod["spec"]["containers"][0]["image"] == f"{REGISTRY}/lane/apps/app@{digest}"
        assert pod["status"]["containerStatuses"][0]["imageID"] == f"{REGISTRY}/lane/apps/app@{digest}"
    template = apps.get("-n", APPS, "deployment", "signed")["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == image, (
        "pinDigest: pods leaves the template as written"
    )


def test_an_unsigned_deployment_is_refused_at_apply_naming_the_container_and_no_pod_is_created(apps, images):
    image, _ = images["unsigned"]
    done = apps.kubectl("apply", "-f", "-", stdin=deployment("unsigned", image))
    assert done.returncode != 0
    assert DENIED in done.stderr, done.stderr
    assert "Deployment unsigned: spec.template.spec.containers[0] (app)" in done.stderr, done.stderr
    assert "no signatures found" in done.stderr, done.stderr
    assert apps.kubectl("-n", APPS, "get", "deployment", "unsigned").returncode != 0
    assert pods_of(apps, "unsigned") == []


def test_a_tag_moved_to_an_unsigned_image_after_admission_scales_up_the_verified_digest_only_where_pinned(
    apps, signing_key
):
    first = {}
    for kind in ("pinned", "unpinned"):  # policies with pinDigest: all / none
        first[kind] = push_runnable_image(f"lane/{kind}/app", "1.0", f"{kind}-first")
        signing_key.sign(f"{REGISTRY}/lane/{kind}/app@{first[kind]}")
        apps.kubectl_ok("apply", "-f", "-", stdin=deployment(kind, f"{REGISTRY}/lane/{kind}/app:1.0"))
    for kind in first:
        wait_for(lambda kind=kind: running(apps, kind, 1), 90, f"the {kind} Deployment's first pod")
    pinned_template = apps.get("-n", APPS, "deployment", "pinned")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert pinned_template["image"] == f"{REGISTRY}/lane/pinned/app@{first['pinned']}"

    # the tags move to images nobody signed; then both Deployments scale up
    for kind in first:
        assert push_runnable_image(f"lane/{kind}/app", "1.0", f"{kind}-moved") != first[kind]
        apps.kubectl_ok("-n", APPS, "scale", "deployment", kind, "--replicas=2")

    pods = wait_for(lambda: running(apps, "pinned", 2), 90, "2 Running pods of the pinned Deployment")
    assert {p["status"]["containerStatuses"][0]["imageID"] for p in pods} == {
        f"{REGISTRY}/lane/pinned/app@{first['pinned']}"
    }

    def refused() -> str | None:
        for replica_set in apps.get("-n", APPS, "replicasets", "-l", "app=unpinned")["items"]:
            for condition in replica_set["status"].get("conditions", []):
                if condition["type"] == "ReplicaFailure" and DENIED in condition["message"]:
                    return str(condition["message"])
        return None

    message = wait_for(refused, 60, "the unpinned ReplicaSet's refused scale-up")
    assert "spec.containers[0] (app)" in message and "lane/unpinned/app:1.0" in message, message
    (pod,) = pods_of(apps, "unpinned")  # only the pod admitted before the tag moved
    assert (
        pod["status"]["containerStatuses"][0]["imageID"]
        == f"{REGISTRY}/lane/unpinned/app@{first['unpinned']}"
    )


def test_image_volumes_become_empty_dirs_on_1_20_and_a_data_image_in_an_init_container_is_verified(
    apps, images, sigwebhook_image
):
    unsigned, _ = images["unsigned"]
    volume_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "image-volume", "namespace": APPS},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": images["signed"][0],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "image": {"reference": unsigned}}],
        },
    }
    # Kubernetes 1.20 has no spec.volumes[].image (1.31+): the API server drops the unknown field and
    # defaults a volume without a source to an emptyDir, so the image is never pulled (nor verified)
    apps.kubectl_ok("apply", "--validate=false", "-f", "-", stdin=json.dumps(volume_pod))
    stored = apps.get("-n", APPS, "pod", "image-volume")
    assert stored["spec"]["volumes"][0] == {"name": "data", "emptyDir": {}}
    assert [c["image"] for c in stored["spec"]["containers"]] == [
        f"{REGISTRY}/lane/apps/app@{images['signed'][1]}"
    ]
    apps.kubectl_ok("-n", APPS, "delete", "pod", "image-volume", "--grace-period=0", "--force")

    # the nearest thing on 1.20: an init container copies from a data image into an emptyDir
    def data_pod(name: str, data_image: str) -> str:
        mount = [{"name": "data", "mountPath": "/data"}]
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": APPS, "labels": {"app": name}},
                "spec": {
                    "initContainers": [
                        {
                            "name": "data",
                            "image": data_image,
                            "command": ["cp", "/etc/os-release", "/data/"],
                            "volumeMounts": mount,
                        }
                    ],
                    "containers": [{"name": "app", "image": images["signed"][0], "volumeMounts": mount}],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "terminationGracePeriodSeconds": 1,
                },
            }
        )

    done = apps.kubectl("apply", "-f", "-", stdin=data_pod("data-unsigned", unsigned))
    assert done.returncode != 0 and DENIED in done.stderr, done.stderr
    assert "spec.initContainers[0] (data)" in done.stderr, done.stderr
    apps.kubectl_ok("apply", "-f", "-", stdin=data_pod("data-signed", sigwebhook_image))
    (pod,) = wait_for(lambda: running(apps, "data-signed", 1), 90, "the pod whose data image is signed")
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    assert init["imageID"].endswith(sigwebhook_image.split("@")[1])
