"""Listing what runs: pods, and the workload kinds that hold pod templates, page by page.

Each kind is listed cluster-wide (`/api/v1/pods`) or per namespace (`/api/v1/namespaces/NS/pods`) in
pages of `PAGE_SIZE` (`limit` and `continue`, Kubernetes API concepts, "Retrieving large results sets
in chunks"), so a large cluster never arrives as one answer. Objects are yielded as the API server's
JSON, which `app.core.audits.targets` reads with the admission code's own pod spec reader. CronJobs
are listed from `batch/v1` and, on servers before 1.21 that do not serve it, from `batch/v1beta1`.
RBAC: `list` on each kind listed. Every call goes through `KubeApi.get_json` (the choke point).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import ClusterError
from app.kube.client import KubeApi

PAGE_SIZE = 500
MAX_PAGES = 10_000  # 5 million objects: a server whose continue tokens never end is not followed forever


@dataclass(frozen=True)
class Resource:
    """A kind to list: its API group and versions (preferred first) and its plural resource name."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str

    def path(self, version: str, namespace: str | None) -> str:
        base = f"/api/{version}" if not self.group else f"/apis/{self.group}/{version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{self.plural}"


PODS = Resource("", ("v1",), "Pod", "pods")
WORKLOADS = (
    Resource("apps", ("v1",), "Deployment", "deployments"),
    Resource("apps", ("v1",), "ReplicaSet", "replicasets"),
    Resource("apps", ("v1",), "StatefulSet", "statefulsets"),
    Resource("apps", ("v1",), "DaemonSet", "daemonsets"),
    Resource("batch", ("v1",), "Job", "jobs"),
    Resource("batch", ("v1", "v1beta1"), "CronJob", "cronjobs"),
    Resource("", ("v1",), "ReplicationController", "replicationcontrollers"),
)


@dataclass(frozen=True)
class Listed:
    """One listed object, with the API version it was listed as."""

    version: str
    object: dict[str, Any]


def list_objects(api: KubeApi, resource: Resource, namespaces: Sequence[str] = ()) -> Iterator[Listed]:
    """Every object of `resource` in `namespaces` (all namespaces when empty), page by page."""
    for namespace in namespaces or [""]:
        yield from _list_in(api, resource, namespace or None)


def _list_in(api: KubeApi, resource: Resource, namespace: str | None) -> Iterator[Listed]:
    for version in resource.versions:
        what = f"list {resource.plural} ({resource.group or 'core'}/{version})" + (
            f" in namespace {namespace}" if namespace else ""
        )
        path = resource.path(version, namespace)
        token = ""
        for page in range(MAX_PAGES):
            query = {"limit": str(PAGE_SIZE), **({"continue": token} if token else {})}
            answer = api.get_json(
                path, query, what, missing_ok=page == 0 and version != resource.versions[-1]
            )
            if answer is None:
                break  # this version is not served: try the next
            items = answer.get("items")
            if not isinstance(items, list):
                raise ClusterError(f"cannot {what}: the answer has no items list")
            for item in items:
                if isinstance(item, dict):
                    yield Listed(version, item)
            metadata = answer.get("metadata")
            token = str(metadata.get("continue") or "") if isinstance(metadata, dict) else ""
            if not token:
                return
        else:
            raise ClusterError(f"cannot {what}: more than {MAX_PAGES} pages")
