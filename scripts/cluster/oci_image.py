"""Write a one-layer OCI image layout from a directory or a tar file (standard library only).

Used by scripts/cluster.sh for the pause image (the sandbox image of every pod, built from the
Kubernetes source), by the end-to-end lane for its small workload images, and by
scripts/build-image.sh for the Debian base made with mmdebstrap. Not part of the product.
From a directory the layer is a tar with sorted entries, owner 0:0 and mtime 0; the gzip header
carries no time either way, so the same input always gives the same manifest digest. Layout and
media types: https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md

    python3 oci_image.py ROOTFS_DIR_OR_TAR OUT_LAYOUT TAG [--entrypoint JSON] [--cmd JSON]
                         [--env K=V ...] [--label K=V ...]

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


def write_layout(layout: Path, tag: str, tar: bytes, settings: dict[str, object]) -> str:
    """Write the layout of one layer (`tar`) and the runtime `settings` (the config's `config`
    object: Entrypoint, Cmd, Env, Labels); return the manifest digest."""
    layer = put_blob(layout, gzip.compress(tar, compresslevel=6, mtime=0))
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"WorkingDir": "/", **settings},
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
    parser.add_argument("rootfs", type=Path, help="a directory, or a tar file used as the layer as it is")
    parser.add_argument("layout", type=Path)
    parser.add_argument("tag")
    parser.add_argument("--entrypoint", help="JSON list, e.g. '[\"/pause\"]'")
    parser.add_argument("--cmd", help="JSON list")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE (repeatable)")
    parser.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeatable)")
    args = parser.parse_args()
    settings: dict[str, object] = {
        "Env": args.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Labels": dict(item.split("=", 1) for item in args.label),
    }
    if args.entrypoint:
        settings["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd:
        settings["Cmd"] = json.loads(args.cmd)
    tar = args.rootfs.read_bytes() if args.rootfs.is_file() else layer_tar(args.rootfs)
    print(write_layout(args.layout, args.tag, tar, settings))


if __name__ == "__main__":
    main()
