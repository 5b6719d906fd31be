"""Writing through `OciRegistry` (the `RegistryWriter` port) to real registries, read back independently."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from app.core.digests import Digest
from app.core.errors import RegistryAuthError, RegistryWriteError
from app.core.ports import OCI_INDEX, OCI_MANIFEST
from app.core.references import Repository, parse_reference
from app.registry import OciRegistry
from tests.support.oci_layout import OCI_CONFIG, OCI_LAYER_GZIP, build_image, descriptor
from tests.support.pushing import RawPusher
from tests.support.registry_server import TestRegistry


@pytest.mark.parametrize("name", ["plain_registry", "tls_registry", "token_registry"])
async def test_pushed_blobs_and_manifest_read_back_byte_for_byte(
    name: str, request: pytest.FixtureRequest, unique_repo: Callable[[str], str]
) -> None:
    target: TestRegistry = request.getfixturevalue(name)
    repo = Repository(target.host, unique_repo("writes/roundtrip"))
    image = build_image(f"round trip on {name}".encode())
    async with OciRegistry(target.settings()) as registry:
        config = await registry.push_blob(repo, image.config, OCI_CONFIG)
        layer = await registry.push_blob(repo, image.layer, OCI_LAYER_GZIP)
        digest = await registry.push_manifest(repo, image.manifest, OCI_MANIFEST, tag="v1")
        resolved = await registry.resolve(parse_reference(f"{repo}:v1"))
    assert (config.digest, config.size) == (Digest.of(image.config), len(image.config))
    assert layer.digest == Digest.of(image.layer)
    assert digest == resolved.digest == image.digest
    with RawPusher(target) as raw:  # read back with an independent client
        served = raw.get(f"/v2/{repo.path}/manifests/v1", repo.path, headers={"Accept": OCI_MANIFEST})
        blob = raw.get(f"/v2/{repo.path}/blobs/{layer.digest}", repo.path)
    assert served.content == image.manifest
    assert blob.content == image.layer


async def test_a_blob_already_present_is_not_uploaded_again(
    plain_registry: TestRegistry, unique_repo: Callable[[str], str]
) -> None:
    repo = Repository(plain_registry.host, unique_repo("writes/present"))
    async with OciRegistry(plain_registry.settings()) as registry:
        await registry.push_blob(repo, b"once", "application/octet-stream")
        before = registry.stats.total
        again = await registry.push_blob(repo, b"once", "application/octet-stream")
        assert registry.stats.total == before + 1  # the HEAD only
    assert again.digest == Digest.of(b"once")


async def test_a_referrer_pushed_by_digest_is_listed_through_the_fallback_index(
    plain_registry: TestRegistry, unique_repo: Callable[[str], str]
) -> None:
    repo = Repository(plain_registry.host, unique_repo("writes/referrer"))
    subject = build_image(b"subject")
    async with OciRegistry(plain_registry.settings()) as registry:
        for blob in subject.blobs:
            await registry.push_blob(repo, blob, "application/octet-stream")
        subject_digest = await registry.push_manifest(repo, subject.manifest, OCI_MANIFEST, tag="v1")
        empty = await registry.push_blob(repo, b"{}", "application/vnd.oci.empty.v1+json")
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example+json",
                "config": {"mediaType": empty.media_type, "digest": str(empty.digest), "size": empty.size},
                "layers": [{"mediaType": empty.media_type, "digest": str(empty.digest), "size": empty.size}],
                "subject": {**descriptor(OCI_MANIFEST, subject.manifest)},
            }
        ).encode()
        referrer_digest = await registry.push_manifest(repo, referrer, OCI_MANIFEST, tag=None)
        assert await registry.supports_referrers_api(repo, subject_digest) is False  # distribution 2.8
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {**descriptor(OCI_MANIFEST, referrer), "artifactType": "application/vnd.example+json"}
                ],
            }
        ).encode()
        await registry.push_manifest(repo, index, OCI_INDEX, tag=subject_digest.tag_prefix)
        listed = await registry.list_referrers(repo, subject_digest)
        fetched = await registry.fetch_manifest(repo, referrer_digest)
    assert [d.digest for d in listed] == [referrer_digest]
    assert listed[0].artifact_type == "application/vnd.example+json"
    assert fetched is not None and fetched.data == referrer


async def test_a_manifest_naming_missing_blobs_is_refused_with_the_registry_reason(
    plain_registry: TestRegistry, unique_repo: Callable[[str], str]
) -> None:
    repo = Repository(plain_registry.host, unique_repo("writes/refused"))
    image = build_image(b"blobs never pushed")
    async with OciRegistry(plain_registry.settings()) as registry:
        with pytest.raises(RegistryWriteError, match="MANIFEST_BLOB_UNKNOWN"):
            await registry.push_manifest(repo, image.manifest, OCI_MANIFEST, tag="v1")


async def test_pushing_without_credentials_to_a_private_registry_is_an_auth_error(
    tls_registry: TestRegistry, unique_repo: Callable[[str], str]
) -> None:
    repo = Repository(tls_registry.host, unique_repo("writes/anon"))
    async with OciRegistry(tls_registry.settings(with_credentials=False)) as registry:
        with pytest.raises(RegistryAuthError, match="no credentials are configured"):
            await registry.push_blob(repo, b"nope", "application/octet-stream")
