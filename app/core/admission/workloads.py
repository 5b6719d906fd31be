"""Where each kind the webhook reviews keeps its pod spec, and the images read from it.

A Pod holds its pod spec at `spec`; the controllers that create pods hold a pod template, whose
`spec` is a pod spec (Kubernetes API reference, "Workload Resources"):

- `apps/v1` Deployment, ReplicaSet, StatefulSet, DaemonSet, `batch/v1` Job and `v1`
  ReplicationController: `spec.template.spec`;
- CronJob (`batch/v1beta1` up to Kubernetes 1.20, `batch/v1` since 1.21):
  `spec.jobTemplate.spec.template.spec`.

A pod spec names the images the kubelet pulls in two places (Kubernetes 1.20 to 1.35): the `image`
of each container in `containers`, `initContainers` (sidecars included) and `ephemeralContainers`,
and the `image.reference` of each image volume in `volumes` (KEP-4639: alpha in 1.31, beta since
1.33), which the kubelet pulls like a container image and mounts into the pod. Both are read, in
that order. An image volume without a `reference` names no image: the API server refuses that in a
pod; a template may leave it for something else to fill in (some releases accept that), and the pods
created from it are then reviewed with the reference they get.

A pre-1.23 `EphemeralContainers` object (the `pods/ephemeralcontainers` subresource) has no pod spec:
its `ephemeralContainers` list is at the top level. Images are named by their path from the object's
root (`spec.template.spec.containers[0]`, `spec.volumes[3].image`) and carry the JSON pointer
(RFC 6901) of the field that holds them (`…/containers/0/image`, `…/volumes/3/image/reference`), which
the digest-pinning patch replaces. The pod spec's `imagePullSecrets` names and `serviceAccountName`
are read too: they say which credentials the kubelet pulls with.

Pure data handling: no I/O, no decision. A shape that is not what the API server sends raises
`MalformedReview` naming the field, and so does a Secret or ServiceAccount name longer than
Kubernetes allows (they are looked up). Container and volume names are only echoed: `label` cuts
them at Kubernetes' limit, and `shown` an image at the longest reference there can be.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import MalformedReview
from app.core.printable import clipped
from app.core.references import REFERENCE_LENGTH_MAX

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
VOLUMES = "volumes"
# Containers and volumes read from one pod spec: no object the API server stores comes near this; the
# decision denies far fewer images (`app.core.admission.decision`).
MAX_CONTAINERS = 10_000
DEFAULT_SERVICE_ACCOUNT = "default"  # what the ServiceAccount admission plugin sets when none is named
# Kubernetes name limits ("Object Names and IDs"): RFC 1123 labels (containers, volumes, namespaces)
# and DNS subdomains (object, Secret and ServiceAccount names).
LABEL_LENGTH_MAX = 63
NAME_LENGTH_MAX = 253

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
    """One image and where it is: `path` like `spec.initContainers[0]` (a container) or
    `spec.volumes[3].image` (an image volume), the container's or volume's name, the image.

    `pointer` is the JSON pointer of the field holding the image in the object the API server sent
    (`/spec/initContainers/0/image`, `/spec/volumes/3/image/reference`); derived from `path` unless given."""

    path: str
    name: str
    image: str
    pointer: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.pointer:
            field_name = "reference" if self.is_volume else "image"
            object.__setattr__(
                self, "pointer", "/" + _INDEX.sub(r"/\1", self.path).replace(".", "/") + "/" + field_name
            )

    def __hash__(self) -> int:
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:  # once: a review keys several maps by its containers
        return hash((self.path, self.name, self.image))

    @property
    def is_volume(self) -> bool:
        """True for an image volume (`spec.volumes[3].image`), False for a container."""
        return self.path.endswith(".image")

    @property
    def label(self) -> str:
        """`spec.initContainers[0] (migrate)`: how messages name a container (its name cut at the
        Kubernetes limit: the API server never sends a longer one)."""
        return f"{self.path} ({clipped(self.name, LABEL_LENGTH_MAX)})"

    @property
    def shown(self) -> str:
        """The image as written, cut past the longest reference there can be, for messages and audit."""
        return clipped(self.image, REFERENCE_LENGTH_MAX)


@dataclass(frozen=True)
class PodSpecContents:
    """What the webhook reads from one pod spec: its images (containers first, then image volumes)
    and the pull identity of its pods."""

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
    prefix, pointer = ".".join(path), "/" + "/".join(path)
    return PodSpecContents(
        _containers(holder, prefix, pointer, where) + _image_volumes(holder, prefix, pointer, where),
        _pull_secrets(holder, f"{where}.{prefix}"),
        _service_account(holder, f"{where}.{prefix}"),
    )


def _containers(spec: dict[str, Any], prefix: str, pointer: str, where: str) -> tuple[ContainerImage, ...]:
    lists = (spec.get(name) for name in (*CONTAINER_LISTS, VOLUMES))
    listed = sum(len(v) for v in lists if isinstance(v, list))
    if listed > MAX_CONTAINERS:
        # Counted before anything is built: reading them all would cost the event loop ~1 s per 8 MiB.
        raise MalformedReview(f"{where} lists {listed} containers and volumes, more than {MAX_CONTAINERS}")
    found: list[ContainerImage] = []
    for list_name in CONTAINER_LISTS:
        shown = f"{where}.{prefix}.{list_name}" if pointer else f"{where}.{list_name}"
        for index, container in _objects(spec, list_name, shown):
            image = container.get("image")
            if not isinstance(image, str) or not image:
                raise MalformedReview(f"{shown}[{index}].image is missing or not a string")
            at = f"{prefix}.{list_name}[{index}]"
            found.append(_image(container, at, image, f"{pointer}/{list_name}/{index}/image"))
    return tuple(found)


def _image_volumes(spec: dict[str, Any], prefix: str, pointer: str, where: str) -> tuple[ContainerImage, ...]:
    """The image volumes of a pod spec (`volumes[i].image.reference`); other volumes name no image."""
    shown = f"{where}.{prefix}.{VOLUMES}"
    found: list[ContainerImage] = []
    for index, volume in _objects(spec, VOLUMES, shown):
        source = volume.get("image")
        if source is None:
            continue
        if not isinstance(source, dict):
            raise MalformedReview(f"{shown}[{index}].image is not an object")
        reference = source.get("reference")
        if reference is None or reference == "":
            continue  # names no image yet (see the module docstring); a pod that keeps it so cannot start
        if not isinstance(reference, str):
            raise MalformedReview(f"{shown}[{index}].image.reference is not a string")
        at = f"{prefix}.{VOLUMES}[{index}].image"
        found.append(_image(volume, at, reference, f"{pointer}/{VOLUMES}/{index}/image/reference"))
    return tuple(found)


def _objects(spec: dict[str, Any], list_name: str, shown: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each object of the list `spec[list_name]` (absent: none) with its index; `MalformedReview`
    naming `shown` when it is not a list of objects."""
    listed = spec.get(list_name)
    if listed is None:
        return
    if not isinstance(listed, list):
        raise MalformedReview(f"{shown} is not a list")
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise MalformedReview(f"{shown}[{index}] is not an object")
        yield index, item


def _image(named: dict[str, Any], path: str, image: str, pointer: str) -> ContainerImage:
    """The image of the container or volume `named`, which is only echoed by name (any string)."""
    name = named.get("name")
    return ContainerImage(path, name if isinstance(name, str) else "", image, pointer)


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
        _check_name(name, f"{where}.imagePullSecrets[{index}].name")
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
        _check_name(value, f"{where}.{key}")
        return value
    return DEFAULT_SERVICE_ACCOUNT


def _check_name(name: str, where: str) -> None:
    """A Secret or ServiceAccount name is looked up: one no object can have is refused, not sent on."""
    if len(name) > NAME_LENGTH_MAX:
        raise MalformedReview(
            f"{where} is {len(name)} characters, more than the {NAME_LENGTH_MAX} a name can have"
        )
