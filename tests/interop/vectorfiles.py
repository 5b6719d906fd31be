"""Reading the vendored vectors (`tests/assets/interop/`) into the in-memory registry: shared by the key
vector tests (`test_vectors_offline`) and the keyless / Rekor vector tests (`test_vectors_keyless`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from app.core.digests import Digest
from app.core.ports import OCI_MANIFEST, Descriptor
from app.core.references import Repository
from app.core.trust.keys import TrustedKey, load_public_key
from tests.fakes import InMemoryRegistry
from tests.fixtures.paths import INTEROP

REPO = Repository("registry.test", "vectors")
CI = INTEROP / "containers-image" / "fixtures"
CONNAISSEUR = INTEROP / "connaisseur"
SIGSTORE_HEADER = b"\x00sigstore-json\n"

Layer = tuple[str, bytes, dict[str, str]]  # (layer media type, payload blob, layer annotations)


def key(path: Path, name: str | None = None) -> TrustedKey:
    return load_public_key(path.read_bytes(), name or path.name)


def read_signature_file(path: Path) -> Layer:
    """A containers/image `dir:` sigstore signature as the `.sig` layer it stands for."""
    data = path.read_bytes()
    assert data.startswith(SIGSTORE_HEADER)
    document = json.loads(data[len(SIGSTORE_HEADER) :])
    return document["mimeType"], base64.b64decode(document["payload"]), document["annotations"]


def put_sig_manifest(registry: InMemoryRegistry, digest: Digest, layers: list[Layer]) -> None:
    """A `.sig` manifest for `digest` with one layer per signature."""
    descriptors = []
    for media_type, payload, layer_annotations in layers:
        blob = registry.put_blob(REPO, payload, media_type)
        descriptors.append(
            {
                "mediaType": media_type,
                "size": blob.size,
                "digest": str(blob.digest),
                "annotations": layer_annotations,
            }
        )
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": descriptors}
    registry.put_manifest(REPO, json.dumps(manifest).encode(), OCI_MANIFEST, digest.signature_tag)


def put_image(registry: InMemoryRegistry, manifest: bytes, tag: str = "v1") -> Descriptor:
    media_type = json.loads(manifest).get("mediaType", OCI_MANIFEST)
    return Descriptor(media_type, registry.put_manifest(REPO, manifest, media_type, tag), len(manifest))


def connaisseur_registry() -> InMemoryRegistry:
    """connaisseur's registry layout: its `.sig` manifests by tag and its payload blobs (checked)."""
    registry = InMemoryRegistry()
    image_dir = CONNAISSEUR / "securesystemsengineering" / "testimage"
    for blob in (image_dir / "blobs").iterdir():
        data = blob.read_bytes()
        assert Digest.parse(blob.name.removesuffix(".json")).matches(data)
        registry.put_blob(REPO, data)
    for manifest in (image_dir / "manifests").glob("*.sig.json"):
        registry.put_manifest(REPO, manifest.read_bytes(), OCI_MANIFEST, manifest.name.removesuffix(".json"))
    return registry
