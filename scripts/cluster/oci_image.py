"""Write a one-layer OCI image layout from a directory, reproducibly (standard library only).

Used by scripts/cluster.sh for the pause image (the sandbox image of every pod, built from the
Kubernetes source) and for the small workload images of the end-to-end lane. Not part of the product.
The layer is a gzip'd tar with sorted entries, owner 0:0, mtime 0 and a gzip header without a time,
so the same directory always gives the same manifest digest. Layout and media types follow the OCI
image spec (https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md).

    python3 oci_image.py ROOTFS OUT_LAYOUT TAG --entrypoint '["/pause"]' [--label KEY=VALUE ...]

Prints the manifest digest. `skopeo copy oci:OUT_LAYOUT:TAG docker://HOST/NAME:TAG` pushes it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def layer_tar(rootfs: Path) -> bytes:
    """The directory as an uncompressed tar: sorted, owned by 0:0, every mtime 0."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory, subdirs, files in os.walk(rootfs):
            subdirs.sort()
            for name in sorted(subdirs) + sorted(files):
                path = Path(directory) / name
                info = tar.gettarinfo(str(path), str(path.relative_to(rootfs)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isfile():
                    with path.open("rb") as content:
                        tar.addfile(info, content)
                else:
                    tar.addfile(info)
    return raw.getvalue()


def put_blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def canonical(document: dict[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def write_layout(rootfs: Path, layout: Path, tag: str, entrypoint: list[str], labels: dict[str, str]) -> str:
    """Write the layout; return the manifest digest."""
    tar = layer_tar(rootfs)
    layer = put_blob(layout, gzip.compress(tar, mtime=0))
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": ["PATH=/"], "WorkingDir": "/", "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created_by": "scripts/cluster/oci_image.py"}],
    }
    config_blob = put_blob(layout, canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, **config_blob},
        "layers": [{"mediaType": LAYER, **layer}],
    }
    manifest_blob = put_blob(layout, canonical(manifest))
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": MANIFEST,
                **manifest_blob,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_bytes(canonical(index))
    (layout / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    return str(manifest_blob["digest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("layout", type=Path)
    parser.add_argument("tag")
    parser.add_argument("--entrypoint", required=True, help="JSON list, e.g. '[\"/pause\"]'")
    parser.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeatable)")
    args = parser.parse_args()
    labels = dict(item.split("=", 1) for item in args.label)
    print(write_layout(args.rootfs, args.layout, args.tag, json.loads(args.entrypoint), labels))


if __name__ == "__main__":
    main()
