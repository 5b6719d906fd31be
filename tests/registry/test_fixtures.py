"""The test registries themselves work: skopeo pushes land, and the raw pusher loads interop vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.digests import Digest
from app.core.ports import OCI_INDEX, OCI_MANIFEST
from tests.support.pushing import RawPusher, push_image
from tests.support.registry_server import TestRegistry
from tests.support.vectors import LoadedReferrer, LoadedSignatures, load_connaisseur, load_v3_style


@pytest.mark.parametrize("name", ["plain_registry", "tls_registry", "token_registry"])
def test_skopeo_push_lands_in_every_test_registry(name: str, request: pytest.FixtureRequest) -> None:
    registry: TestRegistry = request.getfixturevalue(name)
    digest = push_image(registry, "fixtures/skopeo", "v1", content=name.encode())
    with RawPusher(registry) as raw:
        answer = raw.get(
            "/v2/fixtures/skopeo/manifests/v1", "fixtures/skopeo", headers={"Accept": OCI_MANIFEST}
        )
    assert answer.status_code == 200
    assert Digest.of(answer.content) == digest
    assert answer.headers["Docker-Content-Digest"] == str(digest)


def test_interop_vectors_load_into_the_plain_registry(
    plain_registry: TestRegistry, interop_dir: Path
) -> None:
    with RawPusher(plain_registry) as raw:
        signatures = load_connaisseur(raw, interop_dir, repo="fixtures/connaisseur")
        referrer = load_v3_style(raw, interop_dir, repo="fixtures/v3")
        sig = raw.get(
            f"/v2/fixtures/connaisseur/manifests/{signatures.signed_digests[0].signature_tag}",
            "fixtures/connaisseur",
            headers={"Accept": OCI_MANIFEST},
        )
        index = raw.get(
            f"/v2/fixtures/v3/manifests/{referrer.subject.tag_prefix}",
            "fixtures/v3",
            headers={"Accept": OCI_INDEX},
        )
    assert len(signatures.signed_digests) == 3
    assert sig.status_code == 200
    assert "dev.cosignproject.cosign/signature" in sig.text
    assert index.status_code == 200
    assert index.content == (interop_dir / "local-python-v3-style" / "fallback-index.json").read_bytes()


def test_the_vector_fixtures_load_into_the_plain_registry(
    connaisseur_signatures: LoadedSignatures, v3_referrer: LoadedReferrer, plain_registry: TestRegistry
) -> None:
    with RawPusher(plain_registry) as raw:
        for digest in connaisseur_signatures.signed_digests:
            answer = raw.get(
                f"/v2/{connaisseur_signatures.repo}/manifests/{digest.signature_tag}",
                connaisseur_signatures.repo,
                headers={"Accept": OCI_MANIFEST},
            )
            assert answer.status_code == 200
        index = raw.get(
            f"/v2/{v3_referrer.repo}/manifests/{v3_referrer.subject.tag_prefix}",
            v3_referrer.repo,
            headers={"Accept": OCI_INDEX},
        )
    assert Digest.of(index.content) == v3_referrer.fallback_index
