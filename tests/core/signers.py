"""Test signers that write cosign v2 and v3 signatures into an `InMemoryRegistry`, using the core's own
builders (so the layouts `sign` will push are the ones `verify` reads)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from app.core.digests import Digest
from app.core.formats.bundles import BUNDLE_V03_MEDIA_TYPE, build_bundle
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, Envelope, build_statement, pae
from app.core.formats.layouts import (
    EMPTY_CONFIG,
    EMPTY_MEDIA_TYPE,
    build_referrer_manifest,
    build_sig_manifest,
    referrer_descriptor,
    update_referrers_index,
)
from app.core.formats.simplesigning import SIMPLESIGNING_MEDIA_TYPE, build_payload
from app.core.ports import OCI_INDEX, OCI_MANIFEST, Descriptor
from app.core.references import ImageRef, Repository
from app.core.trust.keys import TrustedKey, trusted_key_from
from app.core.verification.trust_groups import NO_LOG, Trust
from tests.fakes import InMemoryRegistry

REPO = Repository("registry.test", "team/app")
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def unlogged(*keys: TrustedKey) -> Trust:
    """`keys` trusted with `transparencyLog: ignore`: what these signers write has no log entry."""
    return Trust.keys(keys, NO_LOG)


@dataclass(frozen=True)
class Signer:
    """A private key and the scheme cosign would use with it."""

    name: str
    private: PrivateKey
    pss: bool = False

    @property
    def key(self) -> TrustedKey:
        return trusted_key_from(self.private.public_key(), self.name)

    def sign(self, message: bytes) -> bytes:
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return self.private.sign(message, ec.ECDSA(hashes.SHA256()))
        if isinstance(self.private, rsa.RSAPrivateKey):
            scheme: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                if self.pss
                else padding.PKCS1v15()
            )
            return self.private.sign(message, scheme, hashes.SHA256())
        return self.private.sign(message)


@functools.cache
def ecdsa(name: str, curve: str = "secp256r1") -> Signer:
    curves = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}
    return Signer(name, ec.generate_private_key(curves[curve]))


@functools.cache
def rsa_key(name: str, pss: bool = False) -> Signer:
    return Signer(name, rsa.generate_private_key(public_exponent=65537, key_size=2048), pss)


@functools.cache
def ed(name: str) -> Signer:
    return Signer(name, ed25519.Ed25519PrivateKey.generate())


def push_image(
    registry: InMemoryRegistry, tag: str, content: str = "app", repo: Repository = REPO
) -> Descriptor:
    """A small image (config + one layer) tagged `tag`; returns the manifest descriptor."""
    config = registry.put_blob(
        repo, json.dumps({"architecture": "amd64", "os": "linux", "c": content}).encode()
    )
    layer = registry.put_blob(repo, content.encode() * 3, "application/vnd.oci.image.layer.v1.tar+gzip")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(config.digest),
                "size": config.size,
            },
            "layers": [{"mediaType": layer.media_type, "digest": str(layer.digest), "size": layer.size}],
        }
    ).encode()
    digest = registry.put_manifest(repo, manifest, OCI_MANIFEST, tag)
    return Descriptor(OCI_MANIFEST, digest, len(manifest))


def by_tag(tag: str, repo: Repository = REPO) -> ImageRef:
    return ImageRef(repo, tag=tag)


def by_digest(digest: Digest, repo: Repository = REPO) -> ImageRef:
    return ImageRef(repo, digest=digest)


def sign_v2(
    registry: InMemoryRegistry,
    digest: Digest,
    signer: Signer,
    payload: bytes | None = None,
    repo: Repository = REPO,
    sig_tag_of: Digest | None = None,
) -> bytes:
    """Append a cosign v2 signature over `payload` (default: the cosign payload for `digest`) to the
    `.sig` manifest of `sig_tag_of` (default `digest`). Returns the payload."""
    payload = payload if payload is not None else build_payload(str(repo), digest)
    put_sig_layer(registry, (sig_tag_of or digest).signature_tag, payload, signer.sign(payload), repo=repo)
    return payload


def put_sig_layer(
    registry: InMemoryRegistry,
    tag: str,
    payload: bytes,
    signature: bytes,
    annotations: Mapping[str, str] | None = None,
    repo: Repository = REPO,
) -> None:
    """Append a layer of `payload` with `signature` (and `annotations`) to the `.sig` manifest `tag`."""
    update = build_sig_manifest(payload, signature, registry.get_manifest(repo, tag), annotations)
    registry.put_blob(repo, update.config, update.config_media_type)
    registry.put_blob(repo, payload, SIMPLESIGNING_MEDIA_TYPE)
    registry.put_manifest(repo, update.manifest, update.media_type, tag)


def sign_v3(
    registry: InMemoryRegistry,
    subject: Descriptor,
    signer: Signer,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    statement: bytes | None = None,
    repo: Repository = REPO,
    created: datetime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
) -> Digest:
    """Attach a cosign v3 bundle to `subject` as cosign 3 `sign --key` does; returns the referrer digest."""
    statement = statement if statement is not None else build_statement(subject.digest, predicate_type)
    signature = signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement))
    bundle = build_bundle(Envelope(IN_TOTO_PAYLOAD_TYPE, statement, signature), signer.key.hint)
    return attach_bundle(registry, subject, bundle, predicate_type, repo, created)


def attach_bundle(
    registry: InMemoryRegistry,
    subject: Descriptor,
    bundle: bytes,
    predicate_type: str = COSIGN_SIGN_PREDICATE,
    repo: Repository = REPO,
    created: datetime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
) -> Digest:
    """Push `bundle` as a referrer of `subject`, updating the fallback index when there is no API."""
    registry.put_blob(repo, EMPTY_CONFIG, EMPTY_MEDIA_TYPE)
    registry.put_blob(repo, bundle, BUNDLE_V03_MEDIA_TYPE)
    manifest = build_referrer_manifest(bundle, subject, created, predicate_type)
    digest = registry.put_manifest(repo, manifest, OCI_MANIFEST)
    if not registry.referrers_api:
        tag = subject.digest.tag_prefix
        index = update_referrers_index(registry.get_manifest(repo, tag), referrer_descriptor(manifest))
        registry.put_manifest(repo, index, OCI_INDEX, tag)
    return digest
