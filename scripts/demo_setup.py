"""Prepare the quick-start demo: push two tiny images to a local registry, sign one, write a config.

Used by `scripts/quickstart.sh`; not part of the product. It pushes with sigwebhook's own registry
client (no skopeo or Docker needed), signs with the real `sigwebhook sign` code path, and writes
`local/demo/config.yaml` plus two AdmissionReviews (signed pod, unsigned pod) built from the review
captured from a real kube-apiserver in `tests/samples/pod-create.json`.

    python scripts/demo_setup.py REGISTRY_HOST:PORT OUT_DIR
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

from app import compose
from app.cli.main import main as sigwebhook
from app.core.ports import OCI_MANIFEST
from app.core.references import parse_reference

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_REVIEW = ROOT / "tests" / "samples" / "pod-create.json"


def _layer(text: str) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()


async def _push(host: str, repo: str, tag: str, text: str) -> None:
    settings = compose.registry_settings_from_cli(insecure_registries=[host], timeout=10)
    repository = parse_reference(f"{host}/{repo}:{tag}").repository
    layer, diff_id = _layer(text)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    async with compose.open_registry(settings) as registry:
        config_desc = await registry.push_blob(repository, config, "application/vnd.oci.image.config.v1+json")
        layer_desc = await registry.push_blob(
            repository, layer, "application/vnd.oci.image.layer.v1.tar+gzip"
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": config_desc.media_type,
                "digest": str(config_desc.digest),
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer_desc.media_type, "digest": str(layer_desc.digest), "size": len(layer)}
            ],
        }
        await registry.push_manifest(repository, json.dumps(manifest).encode(), OCI_MANIFEST, tag)


def _review(image: str, name: str) -> dict[str, object]:
    review = copy.deepcopy(json.loads(SAMPLE_REVIEW.read_text()))
    request = review["request"]
    request["name"] = name
    request["object"]["metadata"]["name"] = name
    request["object"]["spec"]["containers"][0]["image"] = image
    request["object"]["spec"]["containers"][0]["name"] = "app"
    return review


def main(host: str, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("COSIGN_PASSWORD", "demo")
    new_key = not (out / "cosign.key").exists()
    if new_key and sigwebhook(["generate-key-pair", "--output-key-prefix", str(out / "cosign")]) != 0:
        return 1
    signed, unsigned = f"{host}/demo/signed:1.0", f"{host}/demo/unsigned:1.0"
    asyncio.run(_push(host, "demo/signed", "1.0", "signed demo image"))
    asyncio.run(_push(host, "demo/unsigned", "1.0", "unsigned demo image"))
    for extra in ([], ["--bundle"]):  # both layouts: cosign v2 .sig tag and cosign v3 bundle referrer
        if sigwebhook(
            ["sign", *extra, "--key", str(out / "cosign.key"), "--insecure-registry", host, signed]
        ):
            return 1
    (out / "review-signed.json").write_text(json.dumps(_review(signed, "signed-pod"), indent=1))
    (out / "review-unsigned.json").write_text(json.dumps(_review(unsigned, "unsigned-pod"), indent=1))
    (out / "config.yaml").write_text(
        f"""# Written by scripts/demo_setup.py: the quick-start demo (no cluster; keys from files).
server: {{host: 127.0.0.1, port: 8443, tls: {{selfSignedDir: ./tls}}, docs: true}}
deadlineSeconds: 8
unmatched: deny
skipNamespaces: [kube-system]
registries: {{insecure: ["{host}"], timeoutSeconds: 5}}
policies:
  - name: demo
    images: ["{host}/demo/**"]
    keys: [{{file: cosign.pub}}]
    transparencyLog: ignore   # the demo signs without a transparency log (cosign --tlog-upload=false)
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
