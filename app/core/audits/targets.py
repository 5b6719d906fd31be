"""What a scan checks: pods (and, optionally, workload templates) read from the API server's JSON.

Each object becomes a `Target`: the `AdmissionRequest` the API server would send to create it now
(so the scan decides it with the admission code itself), plus what only a running pod says: the
digest each container runs, from its status `imageID` (`docker-pullable://repo@sha256:…`,
`repo@sha256:…`: the part after `@`; a bare `sha256:…` image ID, as Docker reports for an image it
built, names the image configuration, not a manifest, and is not a digest the registry knows), when
it started and who owns it. A pod that has finished (`Succeeded`, `Failed`) runs nothing: `finished`
says so and the scan leaves it out. Pure: dicts in, values out; a shape no API server sends raises
`MalformedReview` naming the object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from app.core.admission.review import AdmissionRequest, Operation
from app.core.admission.workloads import pod_spec_path, read_pod_spec
from app.core.digests import Digest
from app.core.errors import InvalidDigest, MalformedReview

_RUNNING_DIGEST = re.compile(r"@([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,})$")
_STATUS_LISTS = {
    "containers": "containerStatuses",
    "initContainers": "initContainerStatuses",
    "ephemeralContainers": "ephemeralContainerStatuses",
}
FINISHED_PHASES = ("Succeeded", "Failed")
SCAN_UID = "sigwebhook-audit-scan"  # the uid of the requests a scan decides (no API server sent them)


@dataclass(frozen=True)
class Target:
    """One object to check: the request admitting it now would be, and what its pods run."""

    request: AdmissionRequest
    running: MappingProxyType[str, Digest] = field(default_factory=lambda: MappingProxyType({}))
    started: datetime | None = None
    owner: str | None = None  # `ReplicaSet web-7d9c` for a pod a controller made
    finished: bool = False

    @property
    def namespace(self) -> str:
        return self.request.namespace or ""

    @property
    def name(self) -> str:
        return self.request.name or ""

    @property
    def kind(self) -> str:
        return self.request.workload or "Pod"


def pod_target(obj: dict[str, Any]) -> Target:
    """The target of a Pod as the API server lists it."""
    return _target(obj, "", "v1", "Pod")


def workload_target(obj: dict[str, Any], group: str, version: str, kind: str) -> Target:
    """The target of a workload (`apps`, `v1`, `Deployment`) as the API server lists it: its template."""
    return _target(obj, group, version, kind)


def _target(obj: dict[str, Any], group: str, version: str, kind: str) -> Target:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise MalformedReview(f"a listed {kind} has no metadata.name")
    namespace, name = str(metadata.get("namespace") or ""), metadata["name"]
    where = f"{kind} {namespace}/{name}"
    is_pod = group == "" and kind == "Pod"
    path = ("spec",) if is_pod else pod_spec_path(group, kind)
    if path is None:
        raise MalformedReview(f"{where}: sigwebhook does not know where a {kind} keeps its pod spec")
    contents = read_pod_spec(obj, path, where)
    request = AdmissionRequest(
        uid=SCAN_UID,
        operation=Operation.CREATE,
        kind="Pod" if is_pod else f"{group}/{version} {kind}" if group else f"{version} {kind}",
        subresource=None,
        namespace=namespace or None,
        name=name,
        generate_name=None,
        user=None,
        images=contents.images,
        is_pod=is_pod,
        workload=None if is_pod else kind,
        pull_secrets=contents.pull_secrets,
        service_account=contents.service_account,
    )
    status = obj.get("status") if is_pod else None
    status = status if isinstance(status, dict) else {}
    return Target(
        request,
        MappingProxyType(_running_digests(status)) if is_pod else MappingProxyType({}),
        _time(status.get("startTime")) or _time(metadata.get("creationTimestamp")),
        _owner(metadata),
        is_pod and status.get("phase") in FINISHED_PHASES,
    )


def _running_digests(status: dict[str, Any]) -> dict[str, Digest]:
    """Container path (`spec.initContainers[0]` is looked up by name) → the digest it runs."""
    found: dict[str, Digest] = {}
    for list_name, status_name in _STATUS_LISTS.items():
        statuses = status.get(status_name)
        if not isinstance(statuses, list):
            continue
        for entry in statuses:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            digest = running_digest(entry.get("imageID"))
            if digest is not None:
                found[f"{list_name}/{entry['name']}"] = digest
    return found


def running_digest(image_id: object) -> Digest | None:
    """The manifest digest in a container status `imageID`, or None when it names none."""
    if not isinstance(image_id, str):
        return None
    match = _RUNNING_DIGEST.search(image_id)
    if match is None:
        return None
    try:
        return Digest.parse(match.group(1))
    except InvalidDigest:
        return None


def running_key(path: str, name: str) -> str:
    """The key `Target.running` uses for the container at `path` (`spec.containers[0]`) named `name`."""
    list_name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return f"{list_name}/{name}"


def _owner(metadata: dict[str, Any]) -> str | None:
    owners = metadata.get("ownerReferences")
    if not isinstance(owners, list):
        return None
    for owner in owners:
        if isinstance(owner, dict) and owner.get("controller") is True:
            return f"{owner.get('kind')} {owner.get('name')}"
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
