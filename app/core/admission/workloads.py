"""Where each kind the webhook reviews keeps its pod spec, and the containers read from it.

A Pod holds its pod spec at `spec`; the controllers that create pods hold a pod template, whose
`spec` is a pod spec (Kubernetes API reference, "Workload Resources"):

- `apps/v1` Deployment, ReplicaSet, StatefulSet, DaemonSet, `batch/v1` Job and `v1`
  ReplicationController: `spec.template.spec`;
- CronJob (`batch/v1beta1` up to Kubernetes 1.20, `batch/v1` since 1.21):
  `spec.jobTemplate.spec.template.spec`.

A pre-1.23 `EphemeralContainers` object (the `pods/ephemeralcontainers` subresource) has no pod spec:
its `ephemeralContainers` list is at the top level. Containers are named by their path from the
object's root (`spec.template.spec.containers[0]`) and carry the JSON pointer (RFC 6901) of their
`image` field, which the digest-pinning patch replaces. The pod spec's `imagePullSecrets` names and
`serviceAccountName` are read too: they say which credentials the kubelet pulls with.

Pure data handling: no I/O, no decision. A shape that is not what the API server sends raises
`MalformedReview` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import MalformedReview

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# No object the API server stores comes near this; the decision denies far fewer (`app.core.admission.decision`).
MAX_CONTAINERS = 10_000
DEFAULT_SERVICE_ACCOUNT = "default"  # what the ServiceAccount admission plugin sets when none is named

_TEMPLATE = ("spec", "template", "spec")
# (API group, kind) → keys from the object's root to its pod spec. Versions do not matter: every
# served version of these kinds keeps the template at the same place.
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): _TEMPLATE,
    ("apps", "Deployment"): _TEMPLATE,
    ("apps", "ReplicaSet"): _TEMPLATE,
    ("apps", "StatefulSet"): _TEMPLATE,
    ("apps", "DaemonSet"): _TEMPLATE,
    ("batch", "Job"): _TEMPLATE,
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOAD_KINDS = tuple(kind for (_, kind) in POD_SPEC_PATHS if kind != "Pod")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class ContainerImage:
    """One image and where it is: `path` like `spec.initContainers[0]`, the container name, the image.

    `pointer` is the JSON pointer of the `image` field in the object the API server sent
    (`/spec/initContainers/0/image`); derived from `path` unless given."""

    path: str
    name: str
    image: str
    pointer: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.pointer:
            object.__setattr__(
                self, "pointer", "/" + _INDEX.sub(r"/\1", self.path).replace(".", "/") + "/image"
            )

    @property
    def label(self) -> str:
        """`spec.initContainers[0] (migrate)`: how messages name a container."""
        return f"{self.path} ({self.name})"


@dataclass(frozen=True)
class PodSpecContents:
    """What the webhook reads from one pod spec: its images and the pull identity of its pods."""

    images: tuple[ContainerImage, ...]
    pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None  # None: the object has no pod spec (pre-1.23 EphemeralContainers)


def pod_spec_path(group: str, kind: str) -> tuple[str, ...] | None:
    """The keys leading to the pod spec of `kind` in `group`, or None for a kind that has none."""
    return POD_SPEC_PATHS.get((group, kind))


def read_pod_spec(obj: dict[str, Any], path: tuple[str, ...], where: str) -> PodSpecContents:
    """Images, pull secrets and service account of the pod spec at `path` in `obj` (`where` names
    the object in errors: `request.object`)."""
    if obj.get("kind") == "EphemeralContainers":
        # Before Kubernetes 1.23 the subresource's object is a bare list holder, named like a pod's.
        images = _containers(obj, "spec", "", where)
        return PodSpecContents(images)
    holder: dict[str, Any] = obj
    for depth, key in enumerate(path):
        inner = holder.get(key)
        if not isinstance(inner, dict):
            raise MalformedReview(f"{where}.{'.'.join(path[: depth + 1])} is missing or not an object")
        holder = inner
    prefix = ".".join(path)
    return PodSpecContents(
        _containers(holder, prefix, "/" + "/".join(path), where),
        _pull_secrets(holder, f"{where}.{prefix}"),
        _service_account(holder, f"{where}.{prefix}"),
    )


def _containers(spec: dict[str, Any], prefix: str, pointer: str, where: str) -> tuple[ContainerImage, ...]:
    listed = sum(len(v) for v in (spec.get(name) for name in CONTAINER_LISTS) if isinstance(v, list))
    if listed > MAX_CONTAINERS:
        # Counted before anything is built: reading them all would cost the event loop ~1 s per 8 MiB.
        raise MalformedReview(f"{where} lists {listed} containers, more than {MAX_CONTAINERS}")
    found: list[ContainerImage] = []
    for list_name in CONTAINER_LISTS:
        containers = spec.get(list_name)
        if containers is None:
            continue
        shown = f"{where}.{prefix}.{list_name}" if pointer else f"{where}.{list_name}"
        if not isinstance(containers, list):
            raise MalformedReview(f"{shown} is not a list")
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                raise MalformedReview(f"{shown}[{index}] is not an object")
            image = container.get("image")
            if not isinstance(image, str) or not image:
                raise MalformedReview(f"{shown}[{index}].image is missing or not a string")
            name = container.get("name")
            found.append(
                ContainerImage(
                    f"{prefix}.{list_name}[{index}]",
                    name if isinstance(name, str) else "",
                    image,
                    f"{pointer}/{list_name}/{index}/image",
                )
            )
    return tuple(found)


def _pull_secrets(spec: dict[str, Any], where: str) -> tuple[str, ...]:
    refs = spec.get("imagePullSecrets")
    if refs is None:
        return ()
    if not isinstance(refs, list):
        raise MalformedReview(f"{where}.imagePullSecrets is not a list")
    names: list[str] = []
    for index, ref in enumerate(refs):
        name = ref.get("name") if isinstance(ref, dict) else None
        if not isinstance(name, str):
            raise MalformedReview(f"{where}.imagePullSecrets[{index}].name is missing or not a string")
        if name and name not in names:  # an empty name is accepted by the API server and ignored
            names.append(name)
    return tuple(names)


def _service_account(spec: dict[str, Any], where: str) -> str:
    # `serviceAccount` is the deprecated alias the API server still fills in; the name wins.
    for key in ("serviceAccountName", "serviceAccount"):
        value = spec.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise MalformedReview(f"{where}.{key} is not a string")
        return value
    return DEFAULT_SERVICE_ACCOUNT
