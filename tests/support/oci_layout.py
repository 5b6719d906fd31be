"""Build a tiny single-layer OCI image in memory, and write it as an OCI image layout directory.

Follows the OCI image spec: a gzip'd tar layer, an image config whose `rootfs.diff_ids` is the digest
of the uncompressed tar, an image manifest, and (for the layout) `blobs/sha256/…`, `index.json` with
`org.opencontainers.image.ref.name`, and `oci-layout`. Output is deterministic for a given content.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from app.core.digests import Digest
from app.core.ports import OCI_INDEX, OCI_MANIFEST

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Image:
    """The blobs and manifest of a one-layer image; `digest` is the manifest's digest."""

    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def digest(self) -> Digest:
        return Digest.of(self.manifest)

    @property
    def blobs(self) -> list[bytes]:
        return [self.config, self.layer]


def build_image(content: bytes, filename: str = "content.txt") -> Image:
    """An image whose only layer holds one file with `content`."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(filename)
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    raw_tar = tar_bytes.getvalue()
    layer = gzip.compress(raw_tar, mtime=0)
    config = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(raw_tar))]},
        }
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER_GZIP, layer)],
        }
    )
    return Image(config=config, layer=layer, manifest=manifest)


def write_layout(image: Image, directory: Path, tag: str) -> Path:
    """Write `image` as an OCI image layout under `directory`, referenced by `tag`; return the directory."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for blob in (image.config, image.layer, image.manifest):
        (blobs / Digest.of(blob).hex).write_bytes(blob)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{**descriptor(OCI_MANIFEST, image.manifest), "annotations": {REF_NAME: tag}}],
    }
    (directory / "index.json").write_bytes(_json(index))
    (directory / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    return directory


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    """An OCI descriptor dict for `data`."""
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
