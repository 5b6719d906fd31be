"""The choke point `app.kube.client.KubeApi`: real kubernetes model objects and the real
`kubernetes.watch.Watch` in, frozen `Secret` values and `app.core.errors` types out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import urllib3.exceptions
from kubernetes import client as k8s

from app.core.errors import (
    ClusterAccessDenied,
    ClusterError,
    ClusterUnavailable,
    ConfigError,
    WatchExpired,
)
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, connect, event_from
from tests.kube.fakes import FakeCore, bookmark_line, event_line, gone_line, v1_secret

REF = SecretRef("keys", "cosign")


def forbidden() -> k8s.ApiException:
    exc = k8s.ApiException(status=403, reason="Forbidden")
    exc.body = (
        '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,'
        '"message":"secrets \\"cosign\\" is forbidden: User \\"sigwebhook\\" cannot list resource'
        ' \\"secrets\\" in API group \\"\\" in the namespace \\"keys\\""}'
    )
    return exc


def test_list_returns_the_named_secret_decoded_with_the_list_resource_version() -> None:
    core = FakeCore(
        {("keys", "cosign"): v1_secret("keys", "cosign", "7", {"cosign.pub": b"PEM"})}, list_rv="42"
    )
    secret, rv = KubeApi(core).list_secret(REF)
    assert secret is not None and secret.ref == REF
    assert secret.data["cosign.pub"] == b"PEM" and secret.resource_version == "7" and rv == "42"
    assert core.calls[0]["field_selector"] == "metadata.name=cosign"


def test_list_of_a_missing_secret_is_none_not_an_error() -> None:
    secret, rv = KubeApi(FakeCore(list_rv="3")).list_secret(REF)
    assert secret is None and rv == "3"


def test_secret_repr_never_shows_its_data() -> None:
    core = FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "7", {"cosign.password": b"hunter2"})})
    secret, _ = KubeApi(core).list_secret(REF)
    assert "hunter2" not in repr(secret) and "aHVudGVyMg" not in repr(secret)


def test_watch_yields_added_modified_deleted_and_bookmarks_from_the_real_watch_parser() -> None:
    one = v1_secret("keys", "cosign", "11", {"cosign.pub": b"one"})
    two = v1_secret("keys", "cosign", "12", {"cosign.pub": b"two"})
    lines = [
        event_line("ADDED", one),
        event_line("MODIFIED", two),
        bookmark_line("13"),
        event_line("DELETED", two),
    ]
    core = FakeCore(watches=[lines])
    events = list(KubeApi(core).watch_secret(REF, "10", timeout_seconds=5))
    assert [(e.kind, e.resource_version) for e in events] == [
        ("ADDED", "11"),
        ("MODIFIED", "12"),
        ("BOOKMARK", "13"),
        ("DELETED", "12"),
    ]
    assert events[1].secret is not None and events[1].secret.data["cosign.pub"] == b"two"
    call = core.calls[0]
    assert call["watch"] is True and call["resource_version"] == "10" and call["timeout_seconds"] == 5
    assert call["field_selector"] == "metadata.name=cosign" and call["allow_watch_bookmarks"] is True


def test_an_event_as_the_client_yields_it_becomes_a_secret_event() -> None:
    obj = v1_secret("keys", "cosign", "5", {"cosign.pub": b"k"})
    event = event_from(REF, {"type": "MODIFIED", "object": obj, "raw_object": {}})
    assert event.kind == "MODIFIED" and event.secret is not None and event.secret.data == {"cosign.pub": b"k"}


def test_an_event_that_is_not_a_secret_is_a_cluster_error() -> None:
    with pytest.raises(ClusterError, match="unexpected watch event"):
        event_from(REF, {"type": "ADDED", "object": {"kind": "Status"}})


def test_a_410_gone_error_event_is_watch_expired() -> None:
    core = FakeCore(watches=[[event_line("ADDED", v1_secret("keys", "cosign", "11", {})), gone_line()]])
    stream = iter(KubeApi(core).watch_secret(REF, "10", timeout_seconds=5))
    assert next(stream).kind == "ADDED"
    with pytest.raises(WatchExpired) as caught:
        next(stream)
    assert isinstance(caught.value.__cause__, k8s.ApiException)


def test_a_403_names_the_rbac_problem_in_the_reason() -> None:
    with pytest.raises(ClusterAccessDenied) as caught:
        KubeApi(FakeCore(list_error=forbidden())).list_secret(REF)
    assert 'cannot list resource "secrets"' in caught.value.reason
    assert "HTTP 403" in caught.value.reason


def _library_errors() -> list[tuple[BaseException, type[ClusterError]]]:
    pool: Any = None
    return [
        (forbidden(), ClusterAccessDenied),
        (k8s.ApiException(status=401, reason="Unauthorized"), ClusterAccessDenied),
        (k8s.ApiException(status=404, reason="Not Found"), ClusterError),
        (k8s.ApiException(status=410, reason="Gone"), WatchExpired),
        (k8s.ApiException(status=429, reason="Too Many Requests"), ClusterUnavailable),
        (k8s.ApiException(status=500, reason="Internal Server Error"), ClusterUnavailable),
        (k8s.ApiException(status=0, reason="no status"), ClusterUnavailable),
        (k8s.ApiValueError("bad value"), ClusterError),
        (
            urllib3.exceptions.MaxRetryError(pool, "/api/v1", reason=ConnectionRefusedError()),
            ClusterUnavailable,
        ),
        (urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead"), ClusterUnavailable),
        (urllib3.exceptions.ReadTimeoutError(pool, "/api/v1", "read timed out"), ClusterUnavailable),
        (urllib3.exceptions.SSLError("certificate verify failed"), ClusterUnavailable),
        (ConnectionResetError(104, "reset"), ClusterUnavailable),
        (ValueError("cannot deserialize"), ClusterError),
    ]


@pytest.mark.parametrize(("error", "expected"), _library_errors(), ids=lambda v: type(v).__name__)
def test_no_library_exception_escapes_a_list(error: BaseException, expected: type[ClusterError]) -> None:
    with pytest.raises(expected) as caught:
        KubeApi(FakeCore(list_error=error)).list_secret(REF)
    assert caught.value.__cause__ is error
    assert "list Secret k8s://keys/cosign" in caught.value.reason


@pytest.mark.parametrize(("error", "expected"), _library_errors(), ids=lambda v: type(v).__name__)
def test_no_library_exception_escapes_a_watch_request(
    error: BaseException, expected: type[ClusterError]
) -> None:
    with pytest.raises(expected) as caught:
        list(KubeApi(FakeCore(watches=[error])).watch_secret(REF, "1", timeout_seconds=5))
    assert caught.value.__cause__ is error


@pytest.mark.parametrize(("error", "expected"), _library_errors(), ids=lambda v: type(v).__name__)
def test_no_library_exception_escapes_a_watch_mid_stream(
    error: BaseException, expected: type[ClusterError]
) -> None:
    lines = [event_line("ADDED", v1_secret("keys", "cosign", "2", {}))]
    stream = iter(KubeApi(FakeCore(watches=[(lines, error)])).watch_secret(REF, "1", timeout_seconds=5))
    assert next(stream).kind == "ADDED"
    with pytest.raises(expected):
        next(stream)


def test_a_secret_entry_that_is_not_base64_is_a_cluster_error() -> None:
    bad = v1_secret("keys", "cosign", "7", {})
    bad.data = {"cosign.pub": "not base64 !!"}
    with pytest.raises(ClusterError, match="not valid base64"):
        KubeApi(FakeCore({("keys", "cosign"): bad})).list_secret(REF)


def test_a_broken_kubeconfig_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("this: is: not: yaml: [")
    with pytest.raises(ConfigError, match="kubeconfig"):
        connect(path)
    with pytest.raises(ConfigError, match="kubeconfig"):
        connect(tmp_path / "missing")


def test_in_cluster_config_outside_a_cluster_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="in-cluster service account"):
        connect(None)


def test_a_kubeconfig_error_never_quotes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("users:\n- name: u\n  user: {token: s3cr3t-t0ken: oops}\n")
    with pytest.raises(ConfigError) as caught:
        connect(path)
    assert "s3cr3t" not in caught.value.reason and "s3cr3t" not in caught.value.detail


def test_an_unexpected_library_error_is_logged_without_its_message() -> None:
    with pytest.raises(ClusterError) as caught:
        KubeApi(FakeCore(list_error=ValueError("data.cosign.password: input_value='hunter2'"))).list_secret(
            REF
        )
    assert "hunter2" not in caught.value.reason and "hunter2" not in caught.value.detail


def test_a_closed_stream_yields_nothing_more() -> None:
    lines = [event_line("ADDED", v1_secret("keys", "cosign", str(rv), {})) for rv in (2, 3)]
    core = FakeCore(watches=[lines])
    stream = KubeApi(core).watch_secret(REF, "1", timeout_seconds=5)
    events = iter(stream)
    assert next(events).resource_version == "2"
    stream.close()
    assert list(events) == []

    unopened = KubeApi(FakeCore()).watch_secret(REF, "1", timeout_seconds=5)
    unopened.close()
    assert list(unopened) == []  # no request was made: the fake has no watch to serve
