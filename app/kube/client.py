"""The one choke point between sigwebhook and the `kubernetes` client library.

Every call to the API server goes through `KubeApi`, which maps the library's exceptions
(`ApiException`, urllib3 errors, socket errors) to `app.core.errors` types, chaining the original
(`raise ... from`), and converts `V1Secret` models into the frozen `Secret` value the rest of the
code uses. Nothing else in sigwebhook imports `kubernetes`. This module never logs Secret data.

Secrets are read one by one with a list + watch narrowed by `fieldSelector=metadata.name=NAME`, so
that a Role restricted with `resourceNames` suffices (the API server takes the name from that field
selector when it authorizes list and watch requests: apiserver `request/requestinfo.go`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn

import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from app.core.errors import (
    ClusterAccessDenied,
    ClusterError,
    ClusterUnavailable,
    ConfigError,
    WatchExpired,
)
from app.core.trust.secretkeys import SecretRef

EventKind = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
REQUEST_TIMEOUT_SECONDS = 10.0
LIST_TIMEOUT_SECONDS = 60.0  # one page of a list (at most `app.kube.listing.PAGE_SIZE` objects)


@dataclass(frozen=True)
class Secret:
    """A Secret as read from the API server, its `data` base64-decoded. `data` is kept out of repr."""

    ref: SecretRef
    type: str
    resource_version: str
    data: Mapping[str, bytes] = field(repr=False)


@dataclass(frozen=True)
class SecretEvent:
    """One watch event. `secret` is None for a BOOKMARK (which only moves `resource_version`)."""

    kind: EventKind
    resource_version: str
    secret: Secret | None


def connect(kubeconfig: Path | None) -> KubeApi:
    """A `KubeApi` from a kubeconfig file, or from the in-cluster service account when None."""
    try:
        if kubeconfig is None:
            configuration = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            api_client = k8s.ApiClient(configuration)
        else:
            api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    except Exception as exc:  # ConfigException, YAML and file errors, bad base64 in the file...
        where = "in-cluster service account" if kubeconfig is None else f"kubeconfig {kubeconfig}"
        # Only the library's own messages are quoted: a YAML error quotes the offending line of the
        # file, which may hold a token or a client key.
        why = str(exc) if isinstance(exc, k8s_config.ConfigException | OSError) else type(exc).__name__
        raise ConfigError(f"kubernetes.kubeconfig: cannot load the {where}: {why}") from exc
    return KubeApi(k8s.CoreV1Api(api_client))


class KubeApi:
    """Reads Secrets and ServiceAccounts. `core` is a `kubernetes.client.CoreV1Api` (or a stand-in
    with the same `list_namespaced_secret`, `read_namespaced_secret`, `read_namespaced_service_account`);
    `watch_factory` makes `kubernetes.watch.Watch` objects."""

    def __init__(self, core: Any, watch_factory: Callable[[], Any] = k8s_watch.Watch) -> None:
        self._core = core
        self._watch_factory = watch_factory

    def list_secret(self, ref: SecretRef) -> tuple[Secret | None, str]:
        """The Secret `ref` names (None when it does not exist) and the list's resourceVersion, the
        point a watch resumes from (Kubernetes API concepts, "Efficient detection of changes")."""
        try:
            listing = self._core.list_namespaced_secret(
                ref.namespace,
                field_selector=f"metadata.name={ref.name}",
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
            secrets = [secret_from(ref, item) for item in listing.items or ()]
            resource_version = str(listing.metadata.resource_version or "")
        except ClusterError:
            raise
        except Exception as exc:
            raise_cluster_error(exc, f"list Secret {ref}")
        matching = [s for s in secrets if s.ref == ref]
        return (matching[0] if matching else None), resource_version

    def watch_secret(self, ref: SecretRef, resource_version: str, timeout_seconds: int) -> SecretStream:
        """Watch `ref` from `resource_version`; the server ends the stream after `timeout_seconds`."""
        return SecretStream(self._core, self._watch_factory(), ref, resource_version, timeout_seconds)

    def read_secret(self, ref: SecretRef, timeout: float = REQUEST_TIMEOUT_SECONDS) -> Secret | None:
        """GET one Secret (None when it does not exist): a pod's `imagePullSecrets`, read through
        `app.kube.podpullsecrets`' cache, never once per review. RBAC: `get` on secrets."""
        try:
            item = self._core.read_namespaced_secret(ref.name, ref.namespace, _request_timeout=timeout)
            return secret_from(ref, item)
        except ClusterError:
            raise
        except Exception as exc:
            if _not_found(exc):
                return None
            raise_cluster_error(exc, f"read Secret {ref}")

    def read_service_account_pull_secrets(
        self, namespace: str, name: str, timeout: float = REQUEST_TIMEOUT_SECONDS
    ) -> tuple[str, ...] | None:
        """The Secret names in a ServiceAccount's `imagePullSecrets` (None when it does not exist).
        RBAC: `get` on serviceaccounts."""
        try:
            account = self._core.read_namespaced_service_account(name, namespace, _request_timeout=timeout)
            return tuple(str(s.name) for s in account.image_pull_secrets or () if s.name)
        except Exception as exc:
            if _not_found(exc):
                return None
            raise_cluster_error(exc, f"read ServiceAccount {namespace}/{name}")

    def get_json(
        self, path: str, query: Mapping[str, str] | None = None, what: str = "", missing_ok: bool = False
    ) -> dict[str, Any] | None:
        """GET `path` (`/api/v1/pods`) with `query` and return the JSON object it answers (None for a
        404 when `missing_ok`: an API version the server does not serve). Lists are read as the API
        server sends them, without the client's models (`app.kube.listing`). RBAC: whatever the path
        needs (list on pods, on each workload kind)."""
        action = what or f"GET {path}"
        try:
            api_client = self._core.api_client
            method, url, headers, body, post = api_client.param_serialize(
                method="GET",
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = api_client.call_api(
                method, url, headers, body, post, _request_timeout=LIST_TIMEOUT_SECONDS
            )
            data = response.read()
            if not 200 <= response.status <= 299:
                raise k8s.ApiException.from_response(
                    http_resp=response, body=data.decode("utf-8", "replace"), data=None
                )
            document = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ClusterError(
                f"cannot {action}: the API server's answer is not JSON", f"{action}: {exc}"
            ) from exc
        except Exception as exc:
            if missing_ok and _not_found(exc):
                return None
            raise_cluster_error(exc, action)
        if not isinstance(document, dict):
            raise ClusterError(f"cannot {action}: the API server's answer is not a JSON object")
        return document


class SecretStream:
    """One watch request as an iterator of `SecretEvent`; `close()` ends it from another thread."""

    def __init__(self, core: Any, watch: Any, ref: SecretRef, resource_version: str, timeout: int) -> None:
        self._core, self._watch, self._ref = core, watch, ref
        self._resource_version, self._timeout = resource_version, timeout
        self.closed = False

    def close(self) -> None:
        """Shut the watch's socket down (the client's `Watch.stop`). Called before the request is
        under way, the stream ends as soon as it starts; during the request, at the next event."""
        self.closed = True
        # Closing a socket that is already gone is not an error worth reporting.
        with contextlib.suppress(Exception):
            self._watch.stop()

    def __iter__(self) -> Iterator[SecretEvent]:
        ref = self._ref
        if self.closed:
            return
        try:
            # With timeout_seconds set the client does not retry on its own: a 410 Gone ERROR
            # event surfaces as ApiException(status=410), which we map to WatchExpired.
            events = self._watch.stream(
                self._core.list_namespaced_secret,
                ref.namespace,
                field_selector=f"metadata.name={ref.name}",
                resource_version=self._resource_version,
                timeout_seconds=self._timeout,
                allow_watch_bookmarks=True,
                _request_timeout=(REQUEST_TIMEOUT_SECONDS, self._timeout + REQUEST_TIMEOUT_SECONDS),
            )
            for raw in events:
                if self.closed:
                    return
                yield event_from(ref, raw)
        except ClusterError:
            raise
        except Exception as exc:
            raise_cluster_error(exc, f"watch Secret {ref}")


def event_from(ref: SecretRef, raw: Mapping[str, Any]) -> SecretEvent:
    """Convert one event as `kubernetes.watch.Watch.stream` yields it: `{"type", "object", ...}`."""
    kind = raw.get("type")
    obj = raw.get("object")
    if kind == "BOOKMARK":
        # The client leaves a BOOKMARK's object undecoded: a dict with metadata.resourceVersion.
        metadata = obj.get("metadata", {}) if isinstance(obj, dict) else {}
        return SecretEvent("BOOKMARK", str(metadata.get("resourceVersion", "")), None)
    if kind not in ("ADDED", "MODIFIED", "DELETED") or not isinstance(obj, k8s.V1Secret):
        raise ClusterError(
            f"unexpected watch event for Secret {ref}", f"watch {ref}: event type {kind!r}, {type(obj)}"
        )
    secret = secret_from(ref, obj)
    return SecretEvent(kind, secret.resource_version, secret)


def secret_from(ref: SecretRef, item: Any) -> Secret:
    """A `Secret` from a `V1Secret`: `data` values arrive base64-encoded (core/v1 Secret)."""
    metadata = item.metadata
    actual = SecretRef(metadata.namespace or ref.namespace, metadata.name or "")
    data: dict[str, bytes] = {}
    for entry, value in (item.data or {}).items():
        try:
            data[entry] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ClusterError(
                f"Secret {ref} entry {entry!r} is not valid base64", f"Secret {ref} entry {entry!r}: {exc}"
            ) from exc
    return Secret(
        ref=actual,
        type=str(item.type or "Opaque"),
        resource_version=str(metadata.resource_version or ""),
        data=MappingProxyType(data),
    )


def raise_cluster_error(exc: BaseException, action: str) -> NoReturn:
    """Raise the `ClusterError` matching a kubernetes/urllib3/socket exception, chained to it."""
    if isinstance(exc, k8s.ApiException):
        status = int(exc.status or 0)
        message = _status_message(exc)
        text = f"cannot {action}: HTTP {status} {message}".rstrip()
        detail = f"{text} ({exc.reason})"
        if status == 410:
            raise WatchExpired(f"cannot {action}: resourceVersion expired (410 Gone)", detail) from exc
        if status in (401, 403):
            raise ClusterAccessDenied(text, detail) from exc
        if status == 0 or status == 429 or status >= 500:
            raise ClusterUnavailable(text, detail) from exc
        raise ClusterError(text, detail) from exc
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError):
        raise ClusterUnavailable(
            f"cannot {action}: the Kubernetes API server did not answer ({type(exc).__name__})",
            f"cannot {action}: {exc!r}",
        ) from exc
    raise ClusterError(
        f"cannot {action}: unexpected error from the Kubernetes client ({type(exc).__name__})",
        # Not the message: a model validation error may quote the Secret data it could not read.
        f"cannot {action}: {type(exc).__module__}.{type(exc).__name__}",
    ) from exc


def _not_found(exc: BaseException) -> bool:
    return isinstance(exc, k8s.ApiException) and exc.status == 404


def _status_message(exc: Any) -> str:
    """The `message` of the metav1.Status body the API server sends with an error, if any."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason or "")
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(exc.reason or "")
