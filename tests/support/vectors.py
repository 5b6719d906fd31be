"""Load the registry-shaped interop vectors of `tests/assets/interop` into a test registry.

- connaisseur: the cosign `.sig` manifests at their `sha256-<hex>.sig` tags, with their payload blobs.
  Their config blobs are not part of the vectors and distribution refuses a manifest whose blobs are
  missing, so each `.sig` manifest gets a small stand-in config. The layers (payload digests and
  signature annotations) are unchanged, so every signature verifies exactly as the README says; only
  the `.sig` manifest's own digest differs, which nothing verifies.
- local-skopeo-1.9.3-roundtrip: the `.sig` manifests skopeo wrote (byte for byte, so their digests are the
  originals) with their payload and config blobs, in repos `demo` (ECDSA + RSA layers) and `demo-ed`
  (Ed25519). The signed image's own blobs are not in the vectors, so it is verified by digest.
- local-python-v3-style: the OCI 1.1 referrer manifest (by digest, byte for byte) with its empty config and
  bundle blobs, and the `sha256-<hex>` referrers fallback index (byte for byte). The subject image's
  layer blobs are not in the vectors, so the subject manifest itself is not pushed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.core.digests import Digest
from app.core.ports import OCI_INDEX, OCI_MANIFEST
from tests.support.oci_layout import OCI_CONFIG, descriptor
from tests.support.pushing import RawPusher

EMPTY_CONFIG = b"{}"


@dataclass(frozen=True)
class LoadedSignatures:
    """Which image digests got a `.sig` manifest, and where."""

    repo: str
    signed_digests: list[Digest]


def load_connaisseur(
    pusher: RawPusher, interop_dir: Path, repo: str = "securesystemsengineering/testimage"
) -> LoadedSignatures:
    """Push connaisseur's `.sig` manifests and payloads into `repo`; return the image digests they sign."""
    source = interop_dir / "connaisseur" / "securesystemsengineering" / "testimage"
    for blob in sorted((source / "blobs").glob("sha256:*.json")):
        pusher.put_blob(repo, blob.read_bytes())
    signed: list[Digest] = []
    for path in sorted((source / "manifests").glob("sha256-*.sig.json")):
        manifest = json.loads(path.read_bytes())
        config = json.dumps(
            {"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}
        )
        config_bytes = config.encode()
        pusher.put_blob(repo, config_bytes)
        manifest["config"] = descriptor(OCI_CONFIG, config_bytes)
        tag = path.name.removesuffix(".json")
        pusher.put_manifest(repo, tag, json.dumps(manifest).encode(), OCI_MANIFEST)
        signed.append(Digest("sha256", tag.removeprefix("sha256-").removesuffix(".sig")))
    return LoadedSignatures(repo, signed)


@dataclass(frozen=True)
class LoadedReferrer:
    """The v3-style referrer as loaded: the subject it names, the referrer manifest and fallback index digests."""

    repo: str
    subject: Digest
    referrer: Digest
    fallback_index: Digest


def load_v3_style(pusher: RawPusher, interop_dir: Path, repo: str = "demo") -> LoadedReferrer:
    """Push the cosign-v3-style referrer and its referrers fallback index into `repo`."""
    source = interop_dir / "local-python-v3-style"
    pusher.put_blob(repo, EMPTY_CONFIG)
    pusher.put_blob(repo, (source / "bundle.sigstore.json").read_bytes())
    referrer_bytes = (source / "referrer-manifest.json").read_bytes()
    referrer = Digest.of(referrer_bytes)
    pusher.put_manifest(repo, str(referrer), referrer_bytes, OCI_MANIFEST)
    subject = Digest.parse(json.loads(referrer_bytes)["subject"]["digest"])
    index_bytes = (source / "fallback-index.json").read_bytes()
    index = pusher.put_manifest(repo, subject.tag_prefix, index_bytes, OCI_INDEX)
    return LoadedReferrer(repo, subject, referrer, index)


@dataclass(frozen=True)
class LoadedSkopeo:
    """skopeo's `.sig` manifests as loaded: the repos `(demo, demo-ed)` and the image digest they sign."""

    repos: tuple[str, str]
    image: Digest


def load_skopeo_roundtrip(pusher: RawPusher, interop_dir: Path, prefix: str = "skopeo") -> LoadedSkopeo:
    """Push skopeo 1.9.3's `.sig` manifests, byte for byte, with their blobs into `PREFIX/demo[-ed]`."""
    source = interop_dir / "local-skopeo-1.9.3-roundtrip"
    image = Digest.of((source / "image-manifest.json").read_bytes())
    repos = (f"{prefix}/demo", f"{prefix}/demo-ed")
    for repo, folder in zip(repos, ("demo", "demo-ed"), strict=True):
        for blob in sorted((source / folder).glob("blob-*")):
            assert pusher.put_blob(repo, blob.read_bytes()) == Digest(
                "sha256", blob.name.removeprefix("blob-")
            )
        manifest = (source / folder / "sig-manifest.json").read_bytes()
        pusher.put_manifest(repo, image.signature_tag, manifest, OCI_MANIFEST)
    return LoadedSkopeo(repos, image)
