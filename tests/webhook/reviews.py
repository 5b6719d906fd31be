"""Build AdmissionReview v1 bodies for tests, shaped like the ones captured from kube-apiserver 1.20
(`tests/samples/*-kube-apiserver-1.20.json`, `pod-create.json`): the sample is the template, only the
containers, the namespace, the operation and the old object change.

Workload samples were captured by registering a webhook for every workload resource with the real
API server and creating each kind through it. The `batch/v1` CronJob (Kubernetes 1.21+; 1.20 serves
only `batch/v1beta1`) is the captured `batch/v1beta1` review with the versions changed: the object
is the same in both versions."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
Containers = Sequence[tuple[str, str]]  # (name, image)

# sample file, where its pod spec is (keys from the object's root)
_TEMPLATE = ("spec", "template", "spec")
WORKLOAD_SAMPLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "apps/v1 Deployment": ("deployment-create-kube-apiserver-1.20.json", _TEMPLATE),
    "apps/v1 ReplicaSet": ("replicaset-create-kube-apiserver-1.20.json", _TEMPLATE),
    "apps/v1 StatefulSet": ("statefulset-create-kube-apiserver-1.20.json", _TEMPLATE),
    "apps/v1 DaemonSet": ("daemonset-create-kube-apiserver-1.20.json", _TEMPLATE),
    "batch/v1 Job": ("job-create-kube-apiserver-1.20.json", _TEMPLATE),
    "batch/v1beta1 CronJob": (
        "cronjob-batch-v1beta1-create-kube-apiserver-1.20.json",
        ("spec", "jobTemplate", "spec", "template", "spec"),
    ),
    "batch/v1 CronJob": (
        "cronjob-batch-v1-create-derived-from-1.20.json",
        ("spec", "jobTemplate", "spec", "template", "spec"),
    ),
    "v1 ReplicationController": ("replicationcontroller-create-kube-apiserver-1.20.json", _TEMPLATE),
}


def sample(name: str = "pod-create.json") -> dict[str, Any]:
    """A sample review from `tests/samples/` (a fresh copy)."""
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def pod(containers: Containers, init: Containers = (), ephemeral: Containers = ()) -> dict[str, Any]:
    """A Pod object like the API server sends, with these containers."""
    obj = copy.deepcopy(sample()["request"]["object"])
    spec = obj["spec"]
    template = spec["containers"][0]
    spec["containers"] = [dict(template, name=n, image=i) for n, i in containers]
    if init:
        spec["initContainers"] = [dict(template, name=n, image=i) for n, i in init]
    if ephemeral:
        spec["ephemeralContainers"] = [
            {"name": n, "image": i, "targetContainerName": containers[0][0]} for n, i in ephemeral
        ]
    return obj


def review(
    containers: Containers = (),
    *,
    init: Containers = (),
    ephemeral: Containers = (),
    namespace: str = "default",
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    obj: dict[str, Any] | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    """An `admission.k8s.io/v1` AdmissionReview for a pod with these containers."""
    body = sample()
    request = body["request"]
    request["uid"] = uid or str(uuid.uuid4())
    request["namespace"] = namespace
    request["operation"] = operation
    request["object"] = obj if obj is not None else pod(containers, init, ephemeral)
    request["object"]["metadata"]["namespace"] = namespace
    if old is not None:  # the API server's old object is the same object, in the same namespace
        old.setdefault("metadata", {})["namespace"] = namespace
    request["oldObject"] = old
    if operation == "DELETE":
        request["oldObject"], request["object"] = request["object"], None
    return body


def add_image_volumes(spec: dict[str, Any], volumes: Containers) -> dict[str, Any]:
    """Append to pod spec `spec` one `emptyDir` volume, then an image volume (KEP-4639) per
    (name, reference), as `kubectl` sends them; returns `spec`."""
    listed = spec.setdefault("volumes", [])
    listed.append({"name": "scratch", "emptyDir": {}})
    listed.extend({"name": n, "image": {"reference": r, "pullPolicy": "IfNotPresent"}} for n, r in volumes)
    return spec


def pod_spec_of(obj: dict[str, Any], path: Sequence[str]) -> dict[str, Any]:
    """The dict at `path` in `obj` (a workload's pod template spec)."""
    found: dict[str, Any] = obj
    for key in path:
        found = found[key]
    return found


def workload(kind: str, containers: Containers, init: Containers = ()) -> dict[str, Any]:
    """The captured object of `kind` (a key of `WORKLOAD_SAMPLES`) with these containers."""
    name, path = WORKLOAD_SAMPLES[kind]
    obj: dict[str, Any] = sample(name)["request"]["object"]
    spec = pod_spec_of(obj, path)
    template = spec["containers"][0]
    spec["containers"] = [dict(template, name=n, image=i) for n, i in containers]
    spec["initContainers"] = [dict(template, name=n, image=i) for n, i in init]
    if not init:
        del spec["initContainers"]
    return obj


def workload_review(
    kind: str,
    containers: Containers = (),
    *,
    init: Containers = (),
    namespace: str = "default",
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    obj: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An AdmissionReview for a workload of `kind` (`apps/v1 Deployment`, …), as the API server sends it."""
    body = sample(WORKLOAD_SAMPLES[kind][0])
    request = body["request"]
    request["uid"] = str(uuid.uuid4())
    request["namespace"] = namespace
    request["operation"] = operation
    request["object"] = obj if obj is not None else workload(kind, containers, init)
    request["object"]["metadata"]["namespace"] = namespace
    if old is not None:  # the API server's old object is the same object, in the same namespace
        old.setdefault("metadata", {})["namespace"] = namespace
    request["oldObject"] = old
    return body
