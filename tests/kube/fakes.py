"""A stand-in for `kubernetes.client.CoreV1Api.list_namespaced_secret` that serves REAL model
objects (V1Secret, V1SecretList) and, for watches, a byte stream of JSON event lines that the real
`kubernetes.watch.Watch` parses, exactly as it parses the API server's chunked watch response."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s

from tests.fakes import ManualClock

_SERIALIZER = k8s.ApiClient()


def public_pem() -> bytes:
    """A fresh ECDSA P-256 public key in PEM, as `cosign generate-key-pair` writes cosign.pub."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def v1_secret(
    namespace: str, name: str, rv: str, data: dict[str, bytes], kind: str = "Opaque"
) -> k8s.V1Secret:
    return k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=k8s.V1ObjectMeta(namespace=namespace, name=name, resource_version=rv),
        type=kind,
        data={k: base64.b64encode(v).decode() for k, v in data.items()},
    )


def event_line(kind: str, obj: Any) -> bytes:
    return json.dumps({"type": kind, "object": _SERIALIZER.sanitize_for_serialization(obj)}).encode() + b"\n"


def gone_line() -> bytes:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "Expired",
        "message": "too old resource version: 1 (5)",
        "code": 410,
    }
    return json.dumps({"type": "ERROR", "object": status}).encode() + b"\n"


def bookmark_line(rv: str) -> bytes:
    return (
        json.dumps(
            {
                "type": "BOOKMARK",
                "object": {"kind": "Secret", "apiVersion": "v1", "metadata": {"resourceVersion": rv}},
            }
        ).encode()
        + b"\n"
    )


class FakeResponse:
    """What `_preload_content=False` returns: a urllib3 response streamed line by line."""

    def __init__(self, lines: list[bytes], fail: BaseException | None = None) -> None:
        self.status = 200
        self._lines, self._fail = lines, fail
        self.closed = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self._lines
        if self._fail is not None:
            raise self._fail

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


@dataclass
class FakeCore:
    """`secrets[(ns, name)]` is what a list returns; each watch call pops the next item of `watches`:
    a list of event lines, a (lines, exception) pair, or an exception raised by the request itself.
    With a `clock`, each watch lasts the next of `watch_seconds` on it."""

    secrets: dict[tuple[str, str], k8s.V1Secret] = field(default_factory=dict)
    list_rv: str = "10"
    list_error: BaseException | None = None
    watches: list[Any] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    clock: ManualClock | None = None
    watch_seconds: list[float] = field(default_factory=list)

    def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> Any:
        """Like CoreV1Api's; the real Watch reads the item type from this docstring.

        :rtype: V1SecretList
        """
        self.calls.append({"namespace": namespace, **kwargs})
        name = kwargs["field_selector"].removeprefix("metadata.name=")
        if kwargs.get("watch"):
            item = self.watches.pop(0)
            if self.clock is not None and self.watch_seconds:
                self.clock.advance(self.watch_seconds.pop(0))
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, tuple):
                return FakeResponse(item[0], item[1])
            return FakeResponse(item)
        if self.list_error is not None:
            raise self.list_error
        found = self.secrets.get((namespace, name))
        return k8s.V1SecretList(
            items=[found] if found else [], metadata=k8s.V1ListMeta(resource_version=self.list_rv)
        )
