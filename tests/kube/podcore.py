"""A stand-in for the parts of `kubernetes.client.CoreV1Api` that `app.kube.podpullsecrets` reads: one
Secret (`read_namespaced_secret`) and one ServiceAccount (`read_namespaced_service_account`), served
as REAL model objects (`V1Secret`, `V1ServiceAccount`), with the client's own `ApiException` for a
404 or any status set in `errors`. Every call is recorded; `gate` (when set) holds calls until it is
opened, to show that concurrent look-ups share one call."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from tests.kube.fakes import FakeCore

DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"


def docker_config_secret(namespace: str, name: str, auths: dict[str, tuple[str, str]]) -> k8s.V1Secret:
    """A `kubernetes.io/dockerconfigjson` Secret as `kubectl create secret docker-registry` writes it."""
    document = {
        "auths": {
            host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
            for host, (user, password) in auths.items()
        }
    }
    return secret_with(namespace, name, {".dockerconfigjson": json.dumps(document).encode()})


def secret_with(
    namespace: str, name: str, data: dict[str, bytes], kind: str = DOCKERCONFIGJSON
) -> k8s.V1Secret:
    return k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=k8s.V1ObjectMeta(namespace=namespace, name=name, resource_version="1"),
        type=kind,
        data={k: base64.b64encode(v).decode() for k, v in data.items()},
    )


def service_account(namespace: str, name: str, pull_secrets: list[str]) -> k8s.V1ServiceAccount:
    return k8s.V1ServiceAccount(
        metadata=k8s.V1ObjectMeta(namespace=namespace, name=name),
        image_pull_secrets=[k8s.V1LocalObjectReference(name=n) for n in pull_secrets],
    )


def api_error(status: int) -> k8s.ApiException:
    reasons = {403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}
    exc = k8s.ApiException(status=status, reason=reasons.get(status, "Error"))
    exc.body = json.dumps({"kind": "Status", "code": status, "message": f"status {status} from the fake"})
    return exc


@dataclass
class PodCore(FakeCore):
    """`secrets[(ns, name)]` and `accounts[(ns, name)]`; `errors[(ns, name)]` is an HTTP status raised
    for that object instead. `reads` lists ("secret" | "serviceaccount", ns, name) per call."""

    accounts: dict[tuple[str, str], k8s.V1ServiceAccount] = field(default_factory=dict)
    errors: dict[tuple[str, str], int] = field(default_factory=dict)
    reads: list[tuple[str, str, str]] = field(default_factory=list)
    gate: threading.Event | None = None

    def read_namespaced_secret(self, name: str, namespace: str, **kwargs: Any) -> k8s.V1Secret:
        return self._read("secret", self.secrets, namespace, name)

    def read_namespaced_service_account(
        self, name: str, namespace: str, **kwargs: Any
    ) -> k8s.V1ServiceAccount:
        return self._read("serviceaccount", self.accounts, namespace, name)

    def _read(self, kind: str, store: dict[tuple[str, str], Any], namespace: str, name: str) -> Any:
        self.reads.append((kind, namespace, name))
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if (namespace, name) in self.errors:
            raise api_error(self.errors[(namespace, name)])
        if (namespace, name) not in store:
            raise api_error(404)
        return store[(namespace, name)]

    def secret_reads(self) -> int:
        return sum(1 for kind, _, _ in self.reads if kind == "secret")
