"""AdmissionReview v1 in and out: parse the API server's request, build the response.

Follows the Kubernetes admission docs ("Dynamic Admission Control", `admission.k8s.io/v1`): the
request carries `uid`, `kind`, `resource`, `subResource`, `operation`, `userInfo`, `object` and
`oldObject`; the response echoes `uid` and says `allowed`, with a `status` on a deny, `warnings`
(printed by kubectl) and, from the mutating endpoint, a base64 `patch` with `patchType: JSONPatch`.

Images are read from the pod spec of a Pod (`spec`) or of a workload's pod template
(`app.core.admission.workloads` knows where each kind keeps it): `containers`, `initContainers`,
`ephemeralContainers` and image volumes (`volumes[].image.reference`). `kubectl debug` writes the `pods/ephemeralcontainers` subresource: before
Kubernetes 1.23 its object is an `EphemeralContainers` object with a top-level `ephemeralContainers`
list, since 1.23 it is the Pod itself; both are read. Anything that is not a review at all raises
`MalformedReview` (HTTP 400), and so does a review that contradicts itself, which would otherwise be
admitted having checked the wrong thing: an object whose own `kind` is not `request.kind` (the
object is read for what it is), an object in another namespace than the request, a pod or template
without a single container. An UPDATE's old object that is another object (namespace, name or uid)
says nothing about which images are unchanged: every image is verified. Sizes are bounded: a uid or
namespace longer than any the API server sends is refused (the uid is echoed as it came, the namespace
looked up); names, kind, subresource and user, only ever echoed, are cut (`clipped`) at Kubernetes'
limits. This module does no I/O and makes no decision.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.admission.workloads import (
    LABEL_LENGTH_MAX,
    NAME_LENGTH_MAX,
    ContainerImage,
    PodSpecContents,
    pod_spec_path,
    read_pod_spec,
)
from app.core.errors import MalformedReview
from app.core.printable import clipped

__all__ = ["AdmissionRequest", "ContainerImage", "Operation", "parse_review", "review_response"]

API_VERSION = "admission.k8s.io/v1"
REVIEW_KIND = "AdmissionReview"
MAX_UID_CHARS = 128  # the API server sends a UUID (36 characters); the uid is echoed as it came
MAX_USER_CHARS = 512  # usernames have no Kubernetes limit; they are only echoed (audit)
_POD_KINDS = ("Pod", "EphemeralContainers")


class Operation(StrEnum):
    """`request.operation` (admission.k8s.io/v1): only CREATE and UPDATE are checked."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of an AdmissionReview request the decision and the audit log use.

    `kind` is `Pod` (or `EphemeralContainers`) for pods, `apps/v1 Deployment` and the like for
    everything else; `workload` is the bare kind (`Deployment`) when it is a kind with a pod template.
    `pull_secrets` (the `imagePullSecrets` names) and `service_account` (`default` when none is named)
    come from the pod spec or template; `service_account` is None when the object carries no pod spec
    (DELETE, CONNECT, a kind not reviewed, a pre-1.23 `EphemeralContainers` object)."""

    uid: str
    operation: Operation
    kind: str
    subresource: str | None
    namespace: str | None
    name: str | None
    generate_name: str | None
    user: str | None
    images: tuple[ContainerImage, ...]
    old_images: tuple[ContainerImage, ...] | None = None
    is_pod: bool = True
    dry_run: bool = False
    workload: str | None = None
    pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None

    @property
    def pod_name(self) -> str | None:
        """The object's name, or its `generateName` prefix when the API server has not named it yet."""
        return self.name or self.generate_name

    @property
    def reviewed(self) -> bool:
        """True for the kinds whose images the webhook checks: pods and workloads with a pod template."""
        return self.is_pod or self.workload is not None

    @property
    def subject(self) -> str:
        """How messages name the object when it is not a pod: `Deployment web`."""
        return f"{self.workload or self.kind} {self.pod_name or '(unnamed)'}"

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
    if len(uid) > MAX_UID_CHARS:
        raise MalformedReview(f"request.uid is {len(uid)} characters, more than {MAX_UID_CHARS}")
    try:
        operation = Operation(str(request.get("operation")))
    except ValueError:
        raise MalformedReview(
            f"request.operation must be CREATE, UPDATE, DELETE or CONNECT, got {_show(request.get('operation'))}"
        ) from None
    group, kind = _kind(request)
    subresource = _optional_str(request, "subResource")
    is_pod = group == "" and kind in _POD_KINDS
    path = ("spec",) if is_pod else pod_spec_path(group, kind)
    namespace = _optional_str(request, "namespace")
    if namespace is not None and len(namespace) > LABEL_LENGTH_MAX:  # it is looked up and compared
        raise MalformedReview(
            f"request.namespace is {len(namespace)} characters, more than {LABEL_LENGTH_MAX}"
        )
    shown_kind = kind if group == "" and is_pod else f"{_group_version(group, request['kind'])} {kind}"
    # Fields only echoed (messages, audit) are cut where Kubernetes' limits would end them.
    common: dict[str, Any] = {
        "uid": uid,
        "operation": operation,
        "subresource": _clipped(subresource, LABEL_LENGTH_MAX),
        "namespace": namespace,
        "name": _clipped(_optional_str(request, "name"), NAME_LENGTH_MAX),
        "user": _clipped(_user(request), MAX_USER_CHARS),
        "dry_run": request.get("dryRun") is True,
        "kind": clipped(shown_kind, NAME_LENGTH_MAX),
        "is_pod": is_pod,
        "workload": kind if path is not None and not is_pod else None,
    }
    if path is None or operation in (Operation.DELETE, Operation.CONNECT):
        return AdmissionRequest(generate_name=None, images=(), **common)
    obj = request.get("object")
    if not isinstance(obj, dict):
        raise MalformedReview(f"request.object is missing or not an object on {operation.value}")
    _check_kind(obj, group, kind, "request.object")
    metadata = _metadata(obj, "request.object")
    if common["namespace"] is not None and _optional_str(metadata, "namespace") not in (
        None,
        common["namespace"],
    ):
        raise MalformedReview("request.object.metadata.namespace differs from request.namespace")
    old_images = None
    if operation is Operation.UPDATE:
        old = request.get("oldObject")
        if not isinstance(old, dict):
            raise MalformedReview("request.oldObject is missing or not an object on UPDATE")
        _check_kind(old, group, kind, "request.oldObject")
        if _same_object(_metadata(old, "request.oldObject"), metadata):
            old_images = read_pod_spec(old, path, "request.oldObject").images
        # else: an old object that is not this one says nothing about which images are unchanged.
    if not common["name"]:
        common["name"] = _clipped(_optional_str(metadata, "name"), NAME_LENGTH_MAX)
    contents: PodSpecContents = read_pod_spec(obj, path, "request.object")
    if not any(not image.is_volume for image in contents.images):
        # The API server validates pods and pod templates before validating webhooks see them: every
        # one has a container. A review without any would be admitted having checked nothing.
        raise MalformedReview(f"request.object has no containers: not a {kind} the API server would send")
    return AdmissionRequest(
        generate_name=_clipped(_optional_str(metadata, "generateName"), NAME_LENGTH_MAX),
        images=contents.images,
        old_images=old_images,
        pull_secrets=contents.pull_secrets,
        service_account=contents.service_account,
        **common,
    )


def review_response(
    uid: str,
    allowed: bool,
    message: str | None = None,
    warnings: Sequence[str] = (),
    patch: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The AdmissionReview answer: `uid` echoed, `allowed`, on a deny `status` 403 + message;
    `warnings` when there are any; a JSON patch (RFC 6902) as base64 with `patchType: JSONPatch`
    when `patch` has operations (an empty patch is left out: nothing to change)."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "message": message or "denied"}
    if warnings:
        # kubectl prints each as "Warning: …"; the API server wants single lines.
        response["warnings"] = [" ".join(w.split()) for w in warnings]
    if patch:
        encoded = json.dumps(list(patch), separators=(",", ":")).encode()
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(encoded).decode("ascii")
    return {"apiVersion": API_VERSION, "kind": REVIEW_KIND, "response": response}


def _group_version(group: str, kind: dict[str, Any]) -> str:
    version = _optional_str(kind, "version") or ""
    return f"{group}/{version}" if group else version


def _kind(request: dict[str, Any]) -> tuple[str, str]:
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str) or not kind.get("kind"):
        raise MalformedReview("request.kind is missing or has no kind")
    group = kind.get("group", "")
    if not isinstance(group, str):
        raise MalformedReview("request.kind.group is not a string")
    return group, kind["kind"]


def _check_kind(obj: dict[str, Any], group: str, kind: str, where: str) -> None:
    """The object is checked for what it is: when it names its own kind (the API server always
    does), that must be `request.kind`, or the wrong pod spec (or none) would be read."""
    own_kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if own_kind is None and api_version is None:
        return
    if not isinstance(own_kind, str) or not isinstance(api_version, str):
        raise MalformedReview(f"{where}.kind and {where}.apiVersion must be strings")
    own_group = api_version.rpartition("/")[0]  # `apps/v1` → `apps`; `v1` → the core group ""
    if (own_group, own_kind) != (group, kind):
        shown = f"{own_group}/{own_kind}" if own_group else own_kind
        wanted = f"{group}/{kind}" if group else kind
        raise MalformedReview(f"{where} is of kind {_show(shown)} but request.kind says {_show(wanted)}")


def _metadata(obj: dict[str, Any], where: str) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise MalformedReview(f"{where}.metadata is not an object")
    return metadata


def _same_object(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """False when the old object's namespace, name or uid differs from the new object's (a field
    either leaves out is not compared: a client's PUT may omit the uid the API server fills in)."""
    return all(old[key] == new[key] for key in ("namespace", "name", "uid") if old.get(key) and new.get(key))


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


def _clipped(text: str | None, limit: int) -> str | None:
    return None if text is None else clipped(text, limit)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
