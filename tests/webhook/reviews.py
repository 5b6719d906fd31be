"""Build AdmissionReview v1 bodies for tests, shaped like the one captured from kube-apiserver 1.20
(`tests/samples/pod-create.json`): the sample is the template, only the pod's containers, the
namespace, the operation and the old object change."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
Containers = Sequence[tuple[str, str]]  # (name, image)


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
    request["oldObject"] = old
    if operation == "DELETE":
        request["oldObject"], request["object"] = request["object"], None
    return body
