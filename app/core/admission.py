"""AdmissionReview v1 in and out: parse the API server's request, build the response.

Follows the Kubernetes admission docs ("Dynamic Admission Control", `admission.k8s.io/v1`): the
request carries `uid`, `kind`, `resource`, `subResource`, `operation`, `userInfo`, `object` and
`oldObject`; the response echoes `uid` and says `allowed`, with a `status` on a deny.

A pod's images are read from `spec.containers`, `spec.initContainers` and
`spec.ephemeralContainers`. `kubectl debug` writes the `pods/ephemeralcontainers` subresource: before
Kubernetes 1.23 its object is an `EphemeralContainers` object with a top-level `ephemeralContainers`
list, since 1.23 it is the Pod itself; both are read. Anything that is not a review at all raises
`MalformedReview` (HTTP 400). This module does no I/O and makes no decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.errors import MalformedReview

API_VERSION = "admission.k8s.io/v1"
REVIEW_KIND = "AdmissionReview"
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_POD_KINDS = ("Pod", "EphemeralContainers")


class Operation(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


@dataclass(frozen=True)
class ContainerImage:
    """One image of a pod and where it is: `path` like `spec.initContainers[0]`, the container name."""

    path: str
    name: str
    image: str

    @property
    def label(self) -> str:
        """`spec.initContainers[0] (migrate)`: how messages name a container."""
        return f"{self.path} ({self.name})"


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of an AdmissionReview request the decision and the audit log use."""

    uid: str
    operation: Operation
    kind: str  # "Pod", or "apps/v1 Deployment" for what is not a pod
    subresource: str | None
    namespace: str | None
    name: str | None
    generate_name: str | None
    user: str | None
    images: tuple[ContainerImage, ...]
    old_images: tuple[ContainerImage, ...] | None = None
    is_pod: bool = True
    dry_run: bool = False

    @property
    def pod_name(self) -> str | None:
        """The pod's name, or its `generateName` prefix when the API server has not named it yet."""
        return self.name or self.generate_name

    def images_to_verify(self) -> tuple[ContainerImage, ...]:
        """The images this request introduces. On CREATE, all; on UPDATE, those whose image at that
        path differs from the old object (an UPDATE that changes no image needs no registry call)."""
        if self.operation is Operation.UPDATE and self.old_images is not None:
            before = {(c.path, c.image) for c in self.old_images}
            return tuple(c for c in self.images if (c.path, c.image) not in before)
        return self.images


def parse_review(body: object) -> AdmissionRequest:
    """Parse a decoded AdmissionReview; raise `MalformedReview` with a reason the caller can fix."""
    if not isinstance(body, dict):
        raise MalformedReview("the body is not a JSON object")
    if body.get("apiVersion") != API_VERSION:
        raise MalformedReview(f"apiVersion must be {API_VERSION}, got {_show(body.get('apiVersion'))}")
    if body.get("kind") != REVIEW_KIND:
        raise MalformedReview(f"kind must be {REVIEW_KIND}, got {_show(body.get('kind'))}")
    request = body.get("request")
    if not isinstance(request, dict):
        raise MalformedReview("request is missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise MalformedReview("request.uid is missing or not a string")
    try:
        operation = Operation(str(request.get("operation")))
    except ValueError:
        raise MalformedReview(
            f"request.operation must be CREATE, UPDATE, DELETE or CONNECT, got {_show(request.get('operation'))}"
        ) from None
    group, kind = _kind(request)
    subresource = _optional_str(request, "subResource")
    common: dict[str, Any] = {
        "uid": uid,
        "operation": operation,
        "subresource": subresource,
        "namespace": _optional_str(request, "namespace"),
        "name": _optional_str(request, "name"),
        "user": _user(request),
        "dry_run": request.get("dryRun") is True,
    }
    is_pod = group == "" and kind in _POD_KINDS
    shown_kind = kind if group == "" else f"{group}/{_optional_str(request['kind'], 'version') or ''} {kind}"
    if not is_pod or operation in (Operation.DELETE, Operation.CONNECT):
        return AdmissionRequest(kind=shown_kind, generate_name=None, images=(), is_pod=is_pod, **common)
    obj = request.get("object")
    if not isinstance(obj, dict):
        raise MalformedReview(f"request.object is missing or not an object on {operation.value}")
    raw_metadata = obj.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    old = request.get("oldObject")
    old_images = None
    if operation is Operation.UPDATE:
        if not isinstance(old, dict):
            raise MalformedReview("request.oldObject is missing or not an object on UPDATE")
        old_images = pod_images(old, "request.oldObject")
    if not common["name"]:
        common["name"] = _optional_str(metadata, "name")
    return AdmissionRequest(
        kind=shown_kind,
        generate_name=_optional_str(metadata, "generateName"),
        images=pod_images(obj, "request.object"),
        old_images=old_images,
        **common,
    )


def pod_images(obj: dict[str, Any], where: str) -> tuple[ContainerImage, ...]:
    """Every container image of a Pod (or of a pre-1.23 `EphemeralContainers` object)."""
    if obj.get("kind") == "EphemeralContainers":
        holder, prefix = obj, where
    else:
        spec, prefix = obj.get("spec"), f"{where}.spec"
        if not isinstance(spec, dict):
            raise MalformedReview(f"{prefix} is missing or not an object")
        holder = spec
    found: list[ContainerImage] = []
    for list_name in _CONTAINER_LISTS:
        containers = holder.get(list_name)
        if containers is None:
            continue
        if not isinstance(containers, list):
            raise MalformedReview(f"{prefix}.{list_name} is not a list")
        for index, container in enumerate(containers):
            path = f"spec.{list_name}[{index}]"
            if not isinstance(container, dict):
                raise MalformedReview(f"{prefix}.{list_name}[{index}] is not an object")
            image = container.get("image")
            if not isinstance(image, str) or not image:
                raise MalformedReview(f"{prefix}.{list_name}[{index}].image is missing or not a string")
            name = container.get("name")
            found.append(ContainerImage(path, name if isinstance(name, str) else "", image))
    return tuple(found)


def review_response(uid: str, allowed: bool, message: str | None = None) -> dict[str, Any]:
    """The AdmissionReview answer: `uid` echoed, `allowed`, and on a deny `status` 403 + message."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "message": message or "denied"}
    return {"apiVersion": API_VERSION, "kind": REVIEW_KIND, "response": response}


def _kind(request: dict[str, Any]) -> tuple[str, str]:
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str) or not kind.get("kind"):
        raise MalformedReview("request.kind is missing or has no kind")
    group = kind.get("group", "")
    if not isinstance(group, str):
        raise MalformedReview("request.kind.group is not a string")
    return group, kind["kind"]


def _user(request: dict[str, Any]) -> str | None:
    info = request.get("userInfo")
    return _optional_str(info, "username") if isinstance(info, dict) else None


def _optional_str(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedReview(f"{key} is not a string")
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
