"""Failures: a fault-injecting proxy in front of the real registry, registries that are down or untrusted.

Each failure must come out as one of `app.core.errors` with a message an admin can act on; no httpx
exception may escape the adapter.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from app.core import errors
from app.core.digests import Digest
from app.core.errors import RegistryError, RegistryProtocolError, RegistryTimeout, RegistryUnavailable
from app.core.ports import MAX_MANIFEST_BYTES, Descriptor
from app.core.references import Repository, parse_reference
from app.registry import Credential, OciRegistry, RegistrySettings, Timeouts
from tests.support.certs import issue_server_tls
from tests.support.fault_proxy import FaultProxy
from tests.support.oci_layout import build_image
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry, free_port

FAST = Timeouts(connect=1.0, read=0.3, total=2.0)


@dataclass(frozen=True)
class Pushed:
    repo: str
    digest: Digest
    layer: Descriptor


@pytest.fixture(scope="module")
def pushed(plain_registry: TestRegistry) -> Pushed:
    content = b"fault injection"
    digest = push_image(plain_registry, "faults/image", "v1", content=content)
    layer = json.loads(build_image(content).manifest)["layers"][0]
    return Pushed(
        "faults/image", digest, Descriptor(layer["mediaType"], Digest.parse(layer["digest"]), layer["size"])
    )


Operation = Callable[[OciRegistry, str, Pushed], Awaitable[object]]


class Fault(NamedTuple):
    """A fault proxy `rule` (request pattern, fault kind, value), the registry `call` made through it,
    the error it `raises` and `words` its reason must hold."""

    id: str
    rule: tuple[str, str, object]
    call: Operation
    raises: type[RegistryError]
    words: str


async def _resolve(registry: OciRegistry, host: str, image: Pushed) -> object:
    return await registry.resolve(parse_reference(f"{host}/{image.repo}:v1"))


async def _manifest_by_tag(registry: OciRegistry, host: str, image: Pushed) -> object:
    return await registry.fetch_manifest(Repository(host, image.repo), "v1")


async def _manifest_by_digest(registry: OciRegistry, host: str, image: Pushed) -> object:
    return await registry.fetch_manifest(Repository(host, image.repo), image.digest)


async def _blob(registry: OciRegistry, host: str, image: Pushed) -> object:
    return await registry.fetch_blob(Repository(host, image.repo), image.layer, 1024 * 1024)


async def _referrers(registry: OciRegistry, host: str, image: Pushed) -> object:
    return await registry.list_referrers(Repository(host, image.repo), image.digest)


async def _push(registry: OciRegistry, host: str, image: Pushed) -> object:
    data = b"pushed through faults " + os.urandom(8)  # new every time: never skipped as already present
    return await registry.push_blob(Repository(host, image.repo), data, "application/octet-stream")


FAULTS = [
    Fault("wrong digest header", rule=("GET /v2/.*/manifests/v1", "digest_header", str(Digest.of(b"x"))),
          call=_manifest_by_tag, raises=RegistryProtocolError, words="does not match its digest"),
    Fault("tampered manifest", rule=("GET /v2/.*/manifests/sha256", "tamper", None),
          call=_manifest_by_digest, raises=RegistryProtocolError, words="does not match its digest"),
    Fault("tampered blob", rule=("GET /v2/.*/blobs/", "tamper", None),
          call=_blob, raises=RegistryProtocolError, words="does not match its descriptor"),
    Fault("truncated manifest", rule=("GET /v2/.*/manifests/", "truncate", 10),
          call=_manifest_by_tag, raises=RegistryUnavailable, words="broke off mid-answer"),
    Fault("oversized manifest", rule=("GET /v2/.*/manifests/", "pad", MAX_MANIFEST_BYTES),
          call=_manifest_by_tag, raises=RegistryProtocolError, words="more than the 4194304 allowed"),
    Fault("blob longer than its descriptor", rule=("GET /v2/.*/blobs/", "pad", 10),
          call=_blob, raises=RegistryProtocolError, words="more than the"),
    Fault("500 on resolve", rule=("HEAD /v2/", "status", 500),
          call=_resolve, raises=RegistryUnavailable, words="failed to serve manifest"),
    Fault("429 on blob", rule=("GET /v2/.*/blobs/", "status", 429),
          call=_blob, raises=RegistryUnavailable, words="rate-limiting"),
    Fault("503 on referrers", rule=("GET /v2/", "status", 503),
          call=_referrers, raises=RegistryUnavailable, words="failed to serve"),
    # only the referrers API fails and there is no fallback tag (cosign 3 writes none where the API
    # exists): "could not check", never an empty list that would read as "no signatures found"
    Fault("503 on the referrers API alone", rule=("GET /v2/.*/referrers/", "status", 503),
          call=_referrers, raises=RegistryUnavailable, words="failed to serve"),
    Fault("403 on the referrers API alone", rule=("GET /v2/.*/referrers/", "status", 403),
          call=_referrers, raises=errors.RegistryAuthError, words="denied access"),
    Fault("500 on the fallback tag alone", rule=("GET /v2/.*/manifests/sha256-", "status", 500),
          call=_referrers, raises=RegistryUnavailable, words="failed to serve"),
    Fault("slow answer", rule=("HEAD /v2/", "delay", 1.0),
          call=_resolve, raises=RegistryTimeout, words="did not answer within 0.3 s"),
    Fault("dropped connection", rule=("GET /v2/.*/manifests/", "close", None),
          call=_manifest_by_tag, raises=RegistryUnavailable, words="broke off"),
    Fault("403 on resolve", rule=("HEAD /v2/", "status", 403),
          call=_resolve, raises=errors.RegistryAuthError, words="denied access"),
    Fault("401 without a challenge", rule=("HEAD /v2/", "status", 401),
          call=_resolve, raises=errors.RegistryAuthError, words="without saying how to authenticate"),
    Fault("upload refused", rule=("POST /v2/.*/blobs/uploads/", "status", 400),
          call=_push, raises=errors.RegistryWriteError, words="refused"),
    Fault("upload 500", rule=("PUT /v2/.*/blobs/uploads/", "status", 500),
          call=_push, raises=RegistryUnavailable, words="failed to serve"),
]  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
async def test_an_injected_fault_becomes_a_clear_typed_error(
    proxy: FaultProxy, pushed: Pushed, fault: Fault
) -> None:
    proxy.add(*fault.rule)
    async with OciRegistry(proxy.settings(timeouts=FAST)) as registry:
        with pytest.raises(fault.raises) as caught:
            await fault.call(registry, proxy.host, pushed)
    assert fault.words in caught.value.reason
    assert (
        proxy.host in caught.value.reason or "blob" in caught.value.reason or "refused" in caught.value.reason
    )


async def test_without_faults_the_same_operations_succeed(proxy: FaultProxy, pushed: Pushed) -> None:
    async with OciRegistry(proxy.settings(timeouts=FAST)) as registry:
        for operation in (_resolve, _manifest_by_tag, _manifest_by_digest, _blob, _referrers, _push):
            await operation(registry, proxy.host, pushed)


async def test_a_wrong_head_digest_is_caught_when_the_manifest_is_fetched(
    proxy: FaultProxy, pushed: Pushed
) -> None:
    wrong = Digest.of(b"not the manifest")
    proxy.add("HEAD /v2/.*/manifests/v1", "digest_header", str(wrong))
    proxy.add("GET /v2/.*/manifests/sha256:", "forward_as", f"/v2/{pushed.repo}/manifests/{pushed.digest}")
    async with OciRegistry(proxy.settings()) as registry:
        descriptor = await registry.resolve(parse_reference(f"{proxy.host}/{pushed.repo}:v1"))
        assert descriptor.digest == wrong  # HEAD carries no bytes to check
        with pytest.raises(RegistryProtocolError, match="does not match its digest"):
            await registry.fetch_manifest(Repository(proxy.host, pushed.repo), descriptor.digest)


async def test_a_redirect_loop_stops_with_a_protocol_error(proxy: FaultProxy, pushed: Pushed) -> None:
    proxy.add("GET /v2/.*/blobs/", "redirect", proxy.url)
    async with OciRegistry(proxy.settings()) as registry:
        with pytest.raises(RegistryProtocolError, match="more than 5 times"):
            await _blob(registry, proxy.host, pushed)
        assert registry.stats.total == 6


async def test_a_registry_that_is_down_is_unavailable_with_the_reason() -> None:
    host = f"127.0.0.1:{free_port()}"
    async with OciRegistry(RegistrySettings.build(insecure_registries=[host], timeouts=FAST)) as registry:
        with pytest.raises(RegistryUnavailable) as caught:
            await registry.resolve(parse_reference(f"{host}/down/image:v1"))
    assert caught.value.reason == f"registry {host} is unreachable (connection refused)"
    assert caught.value.transient
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_tls_registry_signed_by_another_ca_is_not_trusted(
    tls_registry: TestRegistry, tmp_path: Path
) -> None:
    other_ca = issue_server_tls(tmp_path, "other").ca_file
    settings = RegistrySettings.build(ca_files={tls_registry.host: other_ca}, timeouts=FAST)
    async with OciRegistry(settings) as registry:
        with pytest.raises(RegistryUnavailable) as caught:
            await registry.resolve(parse_reference(f"{tls_registry.host}/tls/image:v1"))
    assert f"the TLS certificate of registry {tls_registry.host} is not trusted" in caught.value.reason
    assert f"--ca-file {tls_registry.host}=PATH" in caught.value.reason


async def test_a_plain_http_registry_is_used_only_when_listed_insecure(
    plain_registry: TestRegistry, pushed: Pushed
) -> None:
    ref = parse_reference(f"{plain_registry.host}/{pushed.repo}:v1")
    async with OciRegistry(RegistrySettings.build(timeouts=FAST)) as registry:
        with pytest.raises(RegistryUnavailable) as caught:
            await registry.resolve(ref)
    assert f"registry {plain_registry.host} does not speak TLS" in caught.value.reason
    assert f"--insecure-registry {plain_registry.host}" in caught.value.reason
    async with OciRegistry(RegistrySettings.build(insecure_registries=[plain_registry.host])) as registry:
        assert (await registry.resolve(ref)).digest == pushed.digest


async def test_blob_redirects_are_followed_without_the_registry_credentials(
    plain_registry: TestRegistry, pushed: Pushed
) -> None:
    password = "proxy-secret"
    basic = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    with FaultProxy(plain_registry.host) as cdn, FaultProxy(plain_registry.host) as front:
        front.add("GET /v2/.*/blobs/", "redirect", cdn.url)
        front.add(".", "require_basic", basic)
        settings = front.settings(credentials={front.host: Credential("alice", password)})
        async with OciRegistry(settings) as registry:
            repo = Repository(front.host, pushed.repo)
            assert await registry.fetch_manifest(repo, "v1") is not None
            data = await registry.fetch_blob(repo, pushed.layer, 1024 * 1024)
    assert Digest.of(data) == pushed.layer.digest
    blob_at_front = [s for s in front.seen if "/blobs/" in s.path]
    assert blob_at_front and blob_at_front[-1].headers.get("Authorization") == basic
    assert [s.path for s in cdn.seen] == [blob_at_front[-1].path]
    assert "Authorization" not in cdn.seen[0].headers


async def test_no_httpx_exception_escapes_the_adapter(
    proxy: FaultProxy, pushed: Pushed, tls_registry: TestRegistry, tmp_path: Path
) -> None:
    outcomes: list[BaseException] = []
    for fault in FAULTS:
        proxy.clear()
        proxy.add(*fault.rule)
        async with OciRegistry(proxy.settings(timeouts=FAST)) as registry:
            try:
                await fault.call(registry, proxy.host, pushed)
            except BaseException as exc:
                outcomes.append(exc)
    down = f"127.0.0.1:{free_port()}"
    untrusted = RegistrySettings.build(
        ca_files={tls_registry.host: issue_server_tls(tmp_path).ca_file}, timeouts=FAST
    )
    for settings, host in (
        (RegistrySettings.build(insecure_registries=[down], timeouts=FAST), down),
        (untrusted, tls_registry.host),
        (RegistrySettings.build(timeouts=FAST), proxy.host),  # TLS to a plain-HTTP server
    ):
        async with OciRegistry(settings) as registry:
            for operation in (_resolve, _manifest_by_tag, _blob, _referrers, _push):
                try:
                    await operation(registry, host, pushed)
                except BaseException as exc:
                    outcomes.append(exc)
    assert len(outcomes) == len(FAULTS) + 15
    for exc in outcomes:
        assert type(exc).__module__ == "app.core.errors", repr(exc)
        assert not isinstance(exc, httpx.HTTPError)


async def test_a_redirect_off_http_is_refused(proxy: FaultProxy, pushed: Pushed) -> None:
    proxy.add("GET /v2/.*/blobs/", "redirect", "file:///etc/passwd")
    async with OciRegistry(proxy.settings()) as registry:
        with pytest.raises(RegistryProtocolError, match=r"redirected .* to a file URL"):
            await _blob(registry, proxy.host, pushed)


def test_a_redirect_from_https_down_to_plain_http_is_refused_unless_the_target_is_listed_insecure() -> None:
    from app.registry.redirects import check_redirect

    listed = {"mirror.internal:8080"}
    https, http = "https://reg.example/v2/a/blobs/sha256:1", "http://cdn.example/blob"
    with pytest.raises(RegistryProtocolError, match="from HTTPS to plain HTTP"):
        check_redirect("reg.example", "a blob", https, http, listed.__contains__)
    check_redirect("reg.example", "a blob", https, "http://mirror.internal:8080/b", listed.__contains__)
    check_redirect("reg.example", "a blob", https, "https://cdn.example/blob", listed.__contains__)
    check_redirect("reg.example", "a blob", "http://reg.example/v2/x", http, listed.__contains__)


def _index_of(*artifact_types: str) -> bytes:
    entries = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": str(Digest.of(kind.encode())),
            "size": 2,
            "artifactType": kind,
        }
        for kind in artifact_types
    ]
    return json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    ).encode()


async def test_a_failing_referrers_api_is_not_hidden_by_an_sbom_in_the_fallback_tag(
    proxy: FaultProxy, pushed: Pushed
) -> None:
    index = "application/vnd.oci.image.index.v1+json"
    proxy.add("GET /v2/.*/referrers/", "status", 503)
    proxy.add("GET /v2/.*/manifests/sha256-", "body", (index, _index_of("application/spdx+json")))
    async with OciRegistry(proxy.settings(timeouts=FAST)) as registry:
        with pytest.raises(RegistryUnavailable, match="failed to serve"):
            await _referrers(registry, proxy.host, pushed)
    proxy.clear()
    bundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
    proxy.add("GET /v2/.*/referrers/", "status", 503)
    proxy.add("GET /v2/.*/manifests/sha256-", "body", (index, _index_of("application/spdx+json", bundle)))
    async with OciRegistry(proxy.settings(timeouts=FAST)) as registry:
        found = await registry.list_referrers(Repository(proxy.host, pushed.repo), pushed.digest)
    assert [d.artifact_type for d in found] == ["application/spdx+json", bundle]  # a bundle to check
