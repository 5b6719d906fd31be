"""Unit tests of the registry layouts: `.sig` manifests, v3 referrer manifests, the fallback index."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from app.core.digests import Digest
from app.core.errors import SignatureFormatError
from app.core.formats.layouts import (
    DOCKER_CONFIG,
    EMPTY_CONFIG,
    SIGNATURE_ANNOTATION,
    BrokenLayer,
    SignatureLayer,
    build_referrer_manifest,
    build_sig_manifest,
    is_bundle_artifact,
    parse_index,
    parse_referrer_manifest,
    parse_sig_manifest,
    referrer_descriptor,
    update_referrers_index,
)
from app.core.formats.simplesigning import SIMPLESIGNING_MEDIA_TYPE, build_payload
from app.core.ports import DOCKER_MANIFEST, OCI_MANIFEST, Descriptor
from tests.core.signers import ecdsa

PAYLOAD = build_payload("r/repo", Digest.of(b"image"))
ALICE, BOB = ecdsa("alice"), ecdsa("bob")


def test_empty_config_is_the_oci_empty_descriptor_blob() -> None:
    assert (
        str(Digest.of(EMPTY_CONFIG))
        == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


def test_new_sig_manifest_has_one_signature_layer_and_a_matching_config() -> None:
    update = build_sig_manifest(PAYLOAD, b"sig", annotations={"dev.sigstore.cosign/certificate": "PEM"})
    manifest = json.loads(update.manifest)
    assert update.changed and update.media_type == OCI_MANIFEST == manifest["mediaType"]
    (layer,) = manifest["layers"]
    assert layer == {
        "mediaType": SIMPLESIGNING_MEDIA_TYPE,
        "size": len(PAYLOAD),
        "digest": str(Digest.of(PAYLOAD)),
        "annotations": {
            SIGNATURE_ANNOTATION: base64.b64encode(b"sig").decode(),
            "dev.sigstore.cosign/certificate": "PEM",
        },
    }
    assert manifest["config"]["digest"] == str(Digest.of(update.config))
    assert json.loads(update.config)["rootfs"] == {"type": "layers", "diff_ids": [str(Digest.of(PAYLOAD))]}


def test_signing_again_appends_and_keeps_every_existing_layer() -> None:
    first = build_sig_manifest(PAYLOAD, ALICE.sign(PAYLOAD))
    existing = json.loads(first.manifest)
    existing["layers"].insert(0, {"mediaType": "text/plain", "size": 1, "digest": str(Digest.of(b"x"))})
    second = build_sig_manifest(PAYLOAD, BOB.sign(PAYLOAD), json.dumps(existing).encode(), signer=BOB.key)
    layers = json.loads(second.manifest)["layers"]
    assert second.changed and layers[:2] == existing["layers"] and len(layers) == 3
    assert len(json.loads(second.config)["rootfs"]["diff_ids"]) == 3


def test_an_identical_or_same_key_signature_is_not_added_twice() -> None:
    signature = ALICE.sign(PAYLOAD)
    first = build_sig_manifest(PAYLOAD, signature)
    assert not build_sig_manifest(PAYLOAD, signature, first.manifest).changed
    resigned = build_sig_manifest(PAYLOAD, ALICE.sign(PAYLOAD), first.manifest, signer=ALICE.key)
    assert not resigned.changed and resigned.manifest == first.manifest
    other_payload = build_payload("r/other", Digest.of(b"image"))
    assert build_sig_manifest(
        other_payload, ALICE.sign(other_payload), first.manifest, signer=ALICE.key
    ).changed


def test_docker_media_types_are_used_when_asked_and_kept_when_present() -> None:
    docker = build_sig_manifest(PAYLOAD, b"s1", docker_media_types=True)
    assert docker.media_type == DOCKER_MANIFEST and docker.config_media_type == DOCKER_CONFIG
    assert build_sig_manifest(PAYLOAD, b"s2", docker.manifest).media_type == DOCKER_MANIFEST


def test_sig_manifest_parser_reads_signature_layers_and_skips_the_rest() -> None:
    update = build_sig_manifest(PAYLOAD, b"sig")
    manifest = json.loads(update.manifest)
    manifest["layers"] += [
        {"mediaType": "text/plain", "size": 1, "digest": "nope"},
        {"mediaType": SIMPLESIGNING_MEDIA_TYPE},
    ]
    parsed = parse_sig_manifest(json.dumps(manifest).encode())
    assert isinstance(parsed[0], SignatureLayer) and parsed[0].signature() == b"sig"
    assert parsed[1] == BrokenLayer(2, "layer 2 has no mediaType or digest")
    assert len(parsed) == 2


def test_v3_referrer_manifest_names_its_subject_and_its_one_bundle_layer() -> None:
    subject = Descriptor(OCI_MANIFEST, Digest.of(b"image"), 5)
    manifest = build_referrer_manifest(b'{"bundle":1}', subject, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    document = json.loads(manifest)
    assert document["subject"] == {"mediaType": OCI_MANIFEST, "digest": str(subject.digest), "size": 5}
    assert document["annotations"]["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    layer = parse_referrer_manifest(manifest)
    assert layer is not None and layer.digest == Digest.of(b'{"bundle":1}') and layer.size == 12


@pytest.mark.parametrize(
    "layers",
    [
        [],
        [{"mediaType": "application/spdx+json", "size": 1, "digest": str(Digest.of(b"x"))}],
        [
            {
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "size": 1,
                "digest": str(Digest.of(b"x")),
            }
        ]
        * 2,
    ],
)
def test_referrers_that_are_not_one_bundle_layer_are_not_signatures(layers: list[object]) -> None:
    assert parse_referrer_manifest(json.dumps({"layers": layers}).encode()) is None


def test_fallback_index_appends_once_and_sorts_by_digest() -> None:
    first, second = (referrer_descriptor(m) for m in (b'{"a":1}', b'{"b":2}'))
    index = update_referrers_index(update_referrers_index(None, first), second)
    again = update_referrers_index(index, first)
    entries = parse_index(again)
    assert [e.digest for e in entries] == sorted([first.digest, second.digest])
    assert all(e.artifact_type == "application/vnd.dev.sigstore.bundle.v0.3+json" for e in entries)
    assert index == again


@pytest.mark.parametrize(
    ("artifact_type", "maybe_bundle"),
    [
        (None, True),
        ("application/vnd.dev.sigstore.bundle.v0.3+json", True),
        # no artifactType in the manifest: the registry lists it under its (empty) config type
        ("application/vnd.oci.empty.v1+json", True),
        ("application/spdx+json", False),
    ],
)
def test_only_bundle_or_untyped_referrers_are_worth_fetching(
    artifact_type: str | None, maybe_bundle: bool
) -> None:
    assert is_bundle_artifact(artifact_type) is maybe_bundle


@pytest.mark.parametrize("data", [b"nope", b"[]", b'{"manifests": {}}', b'{"manifests": [{"digest": "x"}]}'])
def test_a_garbage_index_is_a_format_error(data: bytes) -> None:
    with pytest.raises(SignatureFormatError):
        parse_index(data)
