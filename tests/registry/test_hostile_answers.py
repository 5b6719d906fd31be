"""A registry (or a token service, or a CDN) that answers with hostile bodies: each becomes a typed error.

Bodies built to crash a JSON parser, or compressed when only `identity` was accepted (a decompression bomb
would otherwise be inflated before any size limit applies), must never escape the adapter as anything
but `app.core.errors`.
"""

from __future__ import annotations

import pytest

from app.core.digests import Digest
from app.core.errors import RegistryProtocolError, RegistryUnavailable
from app.core.ports import OCI_INDEX, Descriptor
from app.core.references import Repository
from app.registry import OciRegistry
from app.registry.auth import parse_token_answer
from app.registry.indexes import document_media_type, index_descriptors
from app.registry.replies import Reply
from tests.support.fault_proxy import FaultProxy
from tests.support.oci_layout import build_image
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"errors":' + DEEP + b"}"


@pytest.fixture(scope="module")
def image(plain_registry: TestRegistry) -> Digest:
    return push_image(plain_registry, "hostile/image", "v1", content=b"hostile answers")


def test_a_deeply_nested_error_body_leaves_only_the_status() -> None:
    assert Reply(500, {}, DEEP_OBJECT).explain() == "500"


def test_a_deeply_nested_index_is_a_protocol_error() -> None:
    assert document_media_type(DEEP, "application/json") == "application/json"
    with pytest.raises(
        RegistryProtocolError, match=r"^referrers: index is not strict JSON \(nested too deeply\)$"
    ):
        index_descriptors(DEEP, OCI_INDEX, "referrers")


@pytest.mark.parametrize(
    "body", [DEEP, b'{"token":"a","token":"b"}', b"\xff"], ids=["deep", "twice", "binary"]
)
def test_a_hostile_token_answer_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(RegistryProtocolError, match="did not answer JSON"):
        parse_token_answer(body, "registry.example")


async def test_a_deeply_nested_error_answer_is_a_typed_error(proxy: FaultProxy, image: Digest) -> None:
    proxy.add("GET /v2/.*/manifests/", "body", ("application/json", DEEP_OBJECT, 500))
    async with OciRegistry(proxy.settings()) as registry:
        with pytest.raises(RegistryUnavailable, match=r"failed to serve .* \(500\)$"):
            await registry.fetch_manifest(Repository(proxy.host, "hostile/image"), "v1")


async def test_a_deeply_nested_referrers_answer_with_no_fallback_tag_is_a_protocol_error_not_no_referrers(
    proxy: FaultProxy, image: Digest
) -> None:
    proxy.add("GET /v2/.*/referrers/", "body", (OCI_INDEX, DEEP))
    async with OciRegistry(proxy.settings()) as registry:
        with pytest.raises(RegistryProtocolError):
            await registry.list_referrers(Repository(proxy.host, "hostile/image"), image)


async def test_a_compressed_manifest_that_was_not_accepted_is_refused(
    proxy: FaultProxy, image: Digest
) -> None:
    proxy.add("GET /v2/.*/manifests/v1", "gzip")
    async with OciRegistry(proxy.settings()) as registry:
        with pytest.raises(RegistryProtocolError, match="Content-Encoding 'gzip'"):
            await registry.fetch_manifest(Repository(proxy.host, "hostile/image"), "v1")


async def test_a_compressed_blob_that_was_not_accepted_is_refused(proxy: FaultProxy, image: Digest) -> None:
    config = build_image(b"hostile answers").config
    descriptor = Descriptor("application/vnd.oci.image.config.v1+json", Digest.of(config), len(config))
    proxy.add("GET /v2/.*/blobs/", "gzip")
    async with OciRegistry(proxy.settings()) as registry:
        with pytest.raises(RegistryProtocolError, match="Content-Encoding 'gzip'"):
            await registry.fetch_blob(Repository(proxy.host, "hostile/image"), descriptor, 1024 * 1024)
