"""Reading from a real docker-registry through `OciRegistry`: resolve, manifests, blobs, referrers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.digests import Digest
from app.core.errors import ImageNotFound
from app.core.ports import OCI_INDEX, OCI_MANIFEST, Descriptor
from app.core.references import Repository, parse_reference
from app.registry import OciRegistry
from tests.support.fault_proxy import FaultProxy
from tests.support.oci_layout import build_image
from tests.support.pushing import RawPusher, push_image
from tests.support.registry_server import TestRegistry
from tests.support.vectors import LoadedReferrer, LoadedSignatures, load_v3_style

SHARED = b"shared by the read-only tests"


@dataclass(frozen=True)
class Pushed:
    repository: Repository
    digest: Digest


@pytest.fixture(scope="module")
def pushed(plain_registry: TestRegistry) -> Pushed:
    """One image pushed with skopeo for the tests that only read (each push costs a skopeo run)."""
    repository = Repository(plain_registry.host, f"reads/shared-{uuid.uuid4().hex[:8]}")
    return Pushed(repository, push_image(plain_registry, repository.path, "v1", content=SHARED))


def layer_of(manifest: bytes) -> Descriptor:
    layer = json.loads(manifest)["layers"][0]
    return Descriptor(layer["mediaType"], Digest.parse(layer["digest"]), layer["size"])


async def test_a_tag_resolves_with_one_head_request(plain_registry: TestRegistry, pushed: Pushed) -> None:
    async with OciRegistry(plain_registry.settings()) as registry:
        descriptor = await registry.resolve(parse_reference(f"{pushed.repository}:v1"))
        assert registry.stats.total == 1
    assert descriptor.digest == pushed.digest
    assert descriptor.media_type == OCI_MANIFEST
    assert descriptor.size == len(build_image(SHARED).manifest)


async def test_a_digest_reference_resolves_without_any_request(plain_registry: TestRegistry) -> None:
    digest = Digest.of(b"anything")
    async with OciRegistry(plain_registry.settings()) as registry:
        descriptor = await registry.resolve(parse_reference(f"{plain_registry.host}/absent@{digest}"))
        assert registry.stats.total == 0
    assert descriptor.digest == digest


async def test_resolve_falls_back_to_get_when_head_has_no_digest_header(
    plain_registry: TestRegistry, pushed: Pushed
) -> None:
    with FaultProxy(plain_registry.host) as proxy:
        proxy.add(r"^HEAD /v2/.*/manifests/", "drop_header", "Docker-Content-Digest")
        async with OciRegistry(proxy.settings()) as registry:
            descriptor = await registry.resolve(parse_reference(f"{proxy.host}/{pushed.repository.path}:v1"))
            assert registry.stats.total == 2
    assert descriptor.digest == pushed.digest
    assert [seen.method for seen in proxy.seen] == ["HEAD", "GET"]


async def test_resolutions_and_redirects_reuse_one_connection(
    plain_registry: TestRegistry, pushed: Pushed
) -> None:
    # A HEAD answer or a redirect left unread made httpcore close its connection: each tag resolution
    # then paid a new connection (and, to a real registry, a TLS handshake).
    image = build_image(SHARED)
    descriptor = layer_of(image.manifest)
    with FaultProxy(plain_registry.host) as proxy:
        proxy.add(r"^GET /v2/.*/blobs/", "redirect", proxy.url, times=1)  # to itself, then served
        async with OciRegistry(proxy.settings()) as registry:
            repository = Repository(proxy.host, pushed.repository.path)
            for _ in range(5):
                await registry.resolve(parse_reference(f"{repository}:v1"))
            data = await registry.fetch_blob(repository, descriptor, max_bytes=1024 * 1024)
    assert data == image.layer
    assert [seen.method for seen in proxy.seen] == ["HEAD"] * 5 + ["GET", "GET"]
    assert proxy.connections == 1


async def test_a_missing_tag_is_image_not_found(plain_registry: TestRegistry, pushed: Pushed) -> None:
    async with OciRegistry(plain_registry.settings()) as registry:
        with pytest.raises(ImageNotFound, match="no manifest for tag 'v2'"):
            await registry.resolve(parse_reference(f"{pushed.repository}:v2"))


async def test_fetch_manifest_by_tag_and_digest_returns_the_checked_bytes(
    plain_registry: TestRegistry, pushed: Pushed
) -> None:
    repo = pushed.repository
    async with OciRegistry(plain_registry.settings()) as registry:
        by_tag = await registry.fetch_manifest(repo, "v1")
        by_digest = await registry.fetch_manifest(repo, pushed.digest)
        absent = await registry.fetch_manifest(repo, "nope")
    assert by_tag is not None and by_digest is not None
    assert by_tag.digest == by_digest.digest == pushed.digest
    assert by_tag.data == build_image(SHARED).manifest
    assert by_tag.media_type == OCI_MANIFEST
    assert absent is None


async def test_fetch_blob_returns_bytes_matching_the_descriptor(
    plain_registry: TestRegistry, pushed: Pushed
) -> None:
    image = build_image(SHARED)
    descriptor = layer_of(image.manifest)
    async with OciRegistry(plain_registry.settings()) as registry:
        data = await registry.fetch_blob(pushed.repository, descriptor, max_bytes=1024 * 1024)
    assert data == image.layer


async def test_cosign_sig_manifests_and_payloads_read_back_from_connaisseur_vectors(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures
) -> None:
    loaded = connaisseur_signatures
    repo = Repository(plain_registry.host, loaded.repo)
    async with OciRegistry(plain_registry.settings()) as registry:
        manifest = await registry.fetch_manifest(repo, loaded.signed_digests[0].signature_tag)
        assert manifest is not None
        layer = json.loads(manifest.data)["layers"][0]
        payload = await registry.fetch_blob(
            repo, Descriptor(layer["mediaType"], Digest.parse(layer["digest"]), layer["size"]), 4096
        )
    claimed = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
    assert Digest.parse(claimed) == loaded.signed_digests[0]


async def test_referrers_come_from_the_fallback_tag_index_when_the_api_is_missing(
    plain_registry: TestRegistry, v3_referrer: LoadedReferrer
) -> None:
    loaded = v3_referrer
    repo = Repository(plain_registry.host, loaded.repo)
    async with OciRegistry(plain_registry.settings()) as registry:
        referrers = await registry.list_referrers(repo, loaded.subject)
        assert await registry.supports_referrers_api(repo, loaded.subject) is False
        referrer = await registry.fetch_manifest(repo, referrers[0].digest)
    assert [r.digest for r in referrers] == [loaded.referrer]
    assert referrers[0].artifact_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert referrer is not None and json.loads(referrer.data)["subject"]["digest"] == str(loaded.subject)


async def test_no_fallback_tag_means_no_referrers(plain_registry: TestRegistry, pushed: Pushed) -> None:
    async with OciRegistry(plain_registry.settings()) as registry:
        assert await registry.list_referrers(pushed.repository, pushed.digest) == []


async def test_referrers_api_answers_are_merged_with_the_fallback_index(
    plain_registry: TestRegistry, interop_dir: Path, unique_repo: Callable[[str], str]
) -> None:
    repo = Repository(plain_registry.host, unique_repo("reads/api"))
    with RawPusher(plain_registry) as raw:
        loaded = load_v3_style(raw, interop_dir, repo=repo.path)
        other = build_image(b"another referrer")
        for blob in other.blobs:
            raw.put_blob(repo.path, blob)
        extra = raw.put_manifest(repo.path, str(other.digest), other.manifest, OCI_MANIFEST)
    # A registry with the API: the proxy answers /referrers/ with an index naming `extra` only.
    api_index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": str(extra), "size": len(other.manifest)}],
    }
    with FaultProxy(plain_registry.host) as proxy:
        proxy.add(r"^GET /v2/.*/referrers/", "body", (OCI_INDEX, json.dumps(api_index).encode()))
        async with OciRegistry(proxy.settings()) as registry:
            listed = await registry.list_referrers(Repository(proxy.host, repo.path), loaded.subject)
            has_api = await registry.supports_referrers_api(Repository(proxy.host, repo.path), loaded.subject)
    assert [d.digest for d in listed] == [extra, loaded.referrer]
    assert has_api is True
