"""Image signatures by the private Sigstore instance, in both cosign layouts, as cosign writes them.

- cosign v2 (`.sig` layer): the signature over the simple-signing payload, and the layer annotations
  cosign sets when it signs keylessly or uploads to Rekor: `dev.sigstore.cosign/certificate` (PEM leaf),
  `dev.sigstore.cosign/chain` (PEM intermediates and root, as cosign copies Fulcio's chain),
  `dev.sigstore.cosign/bundle` (the Rekor v1 SET annotation over a hashedrekord entry) and, with a
  TSA, `dev.sigstore.cosign/rfc3161timestamp`.
- cosign v3 (bundle referrer): the instance's v0.3 bundle of an in-toto statement about the image.

`push_v2` / `push_v3` store them in a real registry through `RawPusher` (not sigwebhook's adapter),
`push_signed` pushes an image and signs it in either layout;
the core tests put the same objects into the in-memory registry.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization

from app.core.digests import Digest
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.formats.layouts import build_sig_manifest
from app.core.formats.simplesigning import build_payload
from tests.support.pushing import RawPusher, push_image
from tests.support.registry_server import TestRegistry
from tests.support.sigstore.instance import PrivateSigstore, Signing, encode, hashedrekord_v1
from tests.support.tamper import get_manifest, push_bundle_referrer

CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
REKOR_BUNDLE = "dev.sigstore.cosign/bundle"
TIMESTAMP = "dev.sigstore.cosign/rfc3161timestamp"


def v2_signature(
    sigstore: PrivateSigstore,
    signing: Signing,
    payload: bytes,
    *,
    log: bool = True,
    tsa: bool = False,
    integrated_time: int | None = None,
    edit: Callable[[dict[str, str]], None] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The signature over `payload` and the layer annotations cosign would write with it; `edit`
    changes the annotations before they are returned (to tamper with them)."""
    signature = signing.sign(payload)
    annotations: dict[str, str] = {}
    if signing.certificate is not None:
        annotations[CERTIFICATE] = signing.certificate.public_bytes(serialization.Encoding.PEM).decode()
        annotations[CHAIN] = "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in sigstore.ca.chain
        )
    if log:
        body = hashedrekord_v1(hashlib.sha256(payload).digest(), signature, signing.verifier_pem())
        annotations[REKOR_BUNDLE] = sigstore.rekor.annotation(
            sigstore.log_v1(body, "hashedrekord", integrated_time)
        )
    if tsa:
        stamp = base64.b64encode(sigstore.tsa.timestamp(signature)).decode()
        annotations[TIMESTAMP] = json.dumps({"SignedRFC3161Timestamp": stamp})
    if edit is not None:
        edit(annotations)
    return signature, annotations


def v3_bundle(
    sigstore: PrivateSigstore,
    image: Digest,
    signing: Signing,
    *,
    log: str | None = "v1",
    tsa: bool = False,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    integrated_time: int | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> bytes:
    """A v0.3 bundle of a statement about `image`, logged in Rekor `log` (v1, v2 or None); `edit`
    changes the bundle document before it is written (to tamper with it)."""
    bundle = sigstore.sign_statement(str(image), signing, log, tsa, predicate_type, integrated_time)
    if edit is not None:
        edit(bundle)
    return encode(bundle)


def push_v2(
    raw: RawPusher,
    repo: str,
    image: Digest,
    sigstore: PrivateSigstore,
    signing: Signing,
    **options: object,
) -> None:
    """Append a v2 signature layer for `image` (see `v2_signature` for `options`) to its `.sig` tag."""
    payload = build_payload(f"{raw.registry.host}/{repo}", image)
    signature, annotations = v2_signature(sigstore, signing, payload, **options)  # type: ignore[arg-type]
    answer = raw.get(f"/v2/{repo}/manifests/{image.signature_tag}", repo)
    existing = get_manifest(raw, repo, image.signature_tag) if answer.status_code == 200 else None
    update = build_sig_manifest(payload, signature, existing, annotations)
    raw.put_blob(repo, update.payload)
    raw.put_blob(repo, update.config)
    raw.put_manifest(repo, image.signature_tag, update.manifest, update.media_type)


def push_v3(
    raw: RawPusher, repo: str, image: Digest, sigstore: PrivateSigstore, signing: Signing, **options: object
) -> Digest:
    """Attach a v3 bundle for `image` (see `v3_bundle` for `options`) as a referrer."""
    bundle = v3_bundle(sigstore, image, signing, **options)  # type: ignore[arg-type]
    return push_bundle_referrer(raw, repo, image, bundle, COSIGN_SIGN_PREDICATE)


def push_signed(
    registry: TestRegistry,
    repo: str,
    content: bytes,
    layout: str,
    sigstore: PrivateSigstore,
    signing: Signing,
    **options: object,
) -> str:
    """An image of `content` pushed to `repo:1` and signed by `signing` in `layout` (`v2`: a `.sig`
    tag, `v3`: a bundle referrer; `options` as `push_v2` / `push_v3` take them); its reference."""
    digest = push_image(registry, repo, "1", content=content)
    with RawPusher(registry) as raw:
        (push_v2 if layout == "v2" else push_v3)(raw, repo, digest, sigstore, signing, **options)
    return f"{registry.host}/{repo}:1"
