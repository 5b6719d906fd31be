"""Every key-signed vector in `tests/assets/interop/`, checked offline against the result its README documents.

Registry-shaped vectors are loaded into the in-memory registry and run through the real `Verifier` with
the documented keys and no transparency-log requirement (most were signed without a log); bundles go
through the core's parsers and `TrustedKey`. The keyless and Rekor vectors, verified with the production
trusted root, are `test_vectors_keyless`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import nacl.exceptions
import nacl.secret
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from app.core.digests import Digest
from app.core.errors import ImageNotFound
from app.core.formats.bundles import MessageSignature, parse_bundle
from app.core.formats.layouts import (
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    build_referrer_manifest,
    referrer_descriptor,
    update_referrers_index,
)
from app.core.ports import OCI_INDEX, OCI_MANIFEST, Descriptor
from app.core.references import ImageRef
from app.core.trust.keys import TrustedKey, trusted_key_from
from app.core.verification.trust_groups import NO_LOG, Trust
from app.core.verification.verdicts import ImageVerdict, SignatureFormat
from app.core.verification.verifier import NOT_VERIFIED, Verifier, VerifyOptions
from tests.core.signers import attach_bundle
from tests.fakes import InMemoryRegistry
from tests.fixtures.paths import INTEROP
from tests.interop.vectorfiles import (
    CI,
    CONNAISSEUR,
    REPO,
    connaisseur_registry,
    key,
    put_image,
    put_sig_manifest,
    read_signature_file,
)

V3 = SignatureFormat.COSIGN_V3_BUNDLE


async def verify(
    registry: InMemoryRegistry, ref: ImageRef, *keys: TrustedKey, **options: object
) -> ImageVerdict:
    return await Verifier(registry, options=VerifyOptions(**options)).verify(ref, Trust.keys(keys, NO_LOG))  # type: ignore[arg-type]


# --- containers/image fixtures ------------------------------------------------------------------

COSIGN, COSIGN2 = key(CI / "cosign.pub"), key(CI / "cosign2.pub")


@pytest.mark.parametrize(
    ("directory", "signers"),
    [
        ("dir-img-cosign-valid", ["cosign.pub"]),
        ("dir-img-cosign-valid-2", ["cosign.pub", "cosign.pub"]),
        ("dir-img-cosign-mixed", [None, "cosign.pub"]),
        ("dir-img-cosign-key-rekor-valid", ["cosign2.pub"]),
        ("dir-img-cosign-valid-with-tag", ["cosign.pub"]),
        ("dir-img-cosign-fulcio-rekor-valid", [None]),  # keyless: not by a configured key
        ("dir-img-cosign-pki-valid", [None]),
    ],
)
async def test_containers_image_signatures_verify_with_the_documented_key(
    directory: str, signers: list[str | None]
) -> None:
    registry = InMemoryRegistry()
    image = put_image(registry, (CI / directory / "manifest.json").read_bytes())
    files = sorted((CI / directory).glob("signature-*"))
    put_sig_manifest(registry, image.digest, [read_signature_file(f) for f in files])
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), COSIGN, COSIGN2)
    by_layer = {v.location: v.signer_label for v in verdict.verified}
    found = [by_layer.get(f"{image.digest.signature_tag} layer {i}") for i in range(len(files))]
    assert found == signers
    assert [r.reason for r in verdict.rejected] == [NOT_VERIFIED] * signers.count(None)


@pytest.mark.parametrize(
    "directory", ["dir-img-cosign-manifest-digest-error", "dir-img-cosign-modified-manifest"]
)
async def test_valid_signature_claiming_another_manifest_is_rejected(directory: str) -> None:
    media_type, payload, annotations = read_signature_file(CI / directory / "signature-1")
    assert COSIGN.verify(base64.b64decode(annotations["dev.cosignproject.cosign/signature"]), payload)
    registry = InMemoryRegistry()
    image = put_image(registry, (CI / directory / "manifest.json").read_bytes())
    put_sig_manifest(registry, image.digest, [(media_type, payload, annotations)])
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), COSIGN, COSIGN2)
    claimed = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
    assert not verdict.ok
    assert [r.reason for r in verdict.rejected] == [
        f"payload claims digest {claimed} but the image is {image.digest}"
    ]


async def test_signature_without_a_readable_image_is_rejected() -> None:
    media_type, payload, annotations = read_signature_file(CI / "dir-img-cosign-no-manifest" / "signature-1")
    assert COSIGN.verify(base64.b64decode(annotations["dev.cosignproject.cosign/signature"]), payload)
    registry = InMemoryRegistry()
    claimed = Digest.parse(json.loads(payload)["critical"]["image"]["docker-manifest-digest"])
    put_sig_manifest(registry, claimed, [(media_type, payload, annotations)])
    with pytest.raises(ImageNotFound):
        await verify(registry, ImageRef(REPO, tag="v1"), COSIGN)


async def test_non_signature_attachment_leaves_the_image_unsigned() -> None:
    registry = InMemoryRegistry()
    image = put_image(registry, (CI / "dir-img-cosign-other-attachment" / "manifest.json").read_bytes())
    put_sig_manifest(
        registry, image.digest, [read_signature_file(CI / "dir-img-cosign-other-attachment" / "signature-1")]
    )
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), COSIGN, COSIGN2)
    assert not verdict.ok and verdict.rejected == ()


async def test_signature_by_an_unknown_key_is_rejected() -> None:
    media_type, payload, annotations = read_signature_file(CI / "unknown-cosign-key.signature")
    claimed = Digest.parse(json.loads(payload)["critical"]["image"]["docker-manifest-digest"])
    registry = InMemoryRegistry()
    put_sig_manifest(registry, claimed, [(media_type, payload, annotations)])
    verdict = await verify(registry, ImageRef(REPO, digest=claimed), COSIGN, COSIGN2)
    assert [r.reason for r in verdict.rejected] == [NOT_VERIFIED]


# --- connaisseur ------------------------------------------------------------------------------------

ALICE, BOB, CHARLIE, DEFAULT = (
    key(CONNAISSEUR / f"{n}.key", n) for n in ("alice", "bob", "charlie", "default")
)


@pytest.mark.parametrize(
    ("image_hex", "signers"),
    [
        ("071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81", ["alice"]),
        ("bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533", ["alice", "bob", "charlie"]),
        ("31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee", []),
    ],
)
async def test_connaisseur_signatures_verify_with_the_documented_keys(
    image_hex: str, signers: list[str]
) -> None:
    digest = Digest("sha256", image_hex)
    verdict = await verify(
        connaisseur_registry(), ImageRef(REPO, digest=digest), ALICE, BOB, CHARLIE, DEFAULT
    )
    assert [v.signer_label for v in verdict.verified] == signers
    assert len(verdict.signers) == len(signers)
    # README says the keyless layer's certificate annotation was stripped; it is present (and verifies,
    # test_vectors_keyless), so the layer is found and refused as signed by no trusted key.
    assert [r.reason for r in verdict.rejected] == ([] if signers else [NOT_VERIFIED])


async def test_connaisseur_unsigned_image_has_no_signatures() -> None:
    registry = connaisseur_registry()
    put_image(
        registry, (CONNAISSEUR / "securesystemsengineering/testimage/manifests/co-unsigned.json").read_bytes()
    )
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), ALICE, BOB, CHARLIE, DEFAULT)
    assert not verdict.ok and verdict.rejected == ()


# --- encrypted private keys (policy-controller, local skopeo round trip) -----------------------------


def decrypt_cosign_key(pem: bytes, password: bytes) -> TrustedKey:
    """Independent of `app.signing`: scrypt + secretbox (docs/formats.md#encrypted-private-keys)."""
    lines = pem.decode().strip().splitlines()
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    params = envelope["kdf"]["params"]
    secret = hashlib.scrypt(
        password,
        salt=base64.b64decode(envelope["kdf"]["salt"]),
        n=params["N"],
        r=params["r"],
        p=params["p"],
        maxmem=256 * 1024 * 1024,
        dklen=32,
    )
    plain = nacl.secret.SecretBox(secret).decrypt(
        base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["cipher"]["nonce"])
    )
    return trusted_key_from(serialization.load_der_private_key(plain, None).public_key(), "decrypted")  # type: ignore[union-attr]


SKOPEO = INTEROP / "local-skopeo-1.9.3-roundtrip"
POLICY_CONTROLLER = INTEROP / "policy-controller"


@pytest.mark.parametrize(
    ("private", "public", "password"),
    [
        (POLICY_CONTROLLER / "examples-keys/cosign.key", POLICY_CONTROLLER / "examples-keys/cosign.pub", b""),
        (SKOPEO / "ecdsa-p256.cosign.key", SKOPEO / "ecdsa-p256.pub", b"testpass"),
        (SKOPEO / "ecdsa-p256.sigstore-type.key", SKOPEO / "ecdsa-p256.sigstore-type.pub", b"testpass"),
        (SKOPEO / "ecdsa-p256.n65536.key", SKOPEO / "ecdsa-p256.n65536.pub", b"testpass"),
    ],
    ids=["policy-controller", "cosign-type", "sigstore-type", "n65536"],
)
def test_encrypted_private_keys_decrypt_to_their_public_key(
    private: Path, public: Path, password: bytes
) -> None:
    assert decrypt_cosign_key(private.read_bytes(), password).fingerprint == key(public).fingerprint
    with pytest.raises(nacl.exceptions.CryptoError):
        decrypt_cosign_key(private.read_bytes(), password + b"wrong")


@pytest.mark.parametrize("kind", ["rekor", "ctfe"])
def test_policy_controller_log_ids_are_the_sha256_of_the_key(kind: str) -> None:
    base = POLICY_CONTROLLER / "trustroot-testdata"
    pem = base / f"{kind}PublicKey.pem"
    assert key(pem).fingerprint == "sha256:" + (base / f"{kind}LogID.txt").read_text().strip()


# --- local skopeo 1.9.3 round trip -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "signers"),
    [("demo", ["ecdsa-p256.pub", "rsa-2048.pub"]), ("demo-ed", ["ed25519.pub"])],
)
async def test_skopeo_written_signatures_verify_per_signer(repository: str, signers: list[str]) -> None:
    registry = InMemoryRegistry()
    image = put_image(registry, (SKOPEO / "image-manifest.json").read_bytes())
    assert str(image.digest) == "sha256:a72929a48ee1f344e45a8b1202f10aaf9dd0e59a42221082fbd0a13d3b04398f"
    for blob in (SKOPEO / repository).glob("blob-*"):
        registry.put_blob(REPO, blob.read_bytes())
    sig_manifest = (SKOPEO / repository / "sig-manifest.json").read_bytes()
    registry.put_manifest(REPO, sig_manifest, OCI_MANIFEST, image.digest.signature_tag)
    keys = [key(SKOPEO / name) for name in ("ecdsa-p256.pub", "rsa-2048.pub", "ed25519.pub")]
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), *keys)
    assert [v.signer_label for v in verdict.verified] == signers and verdict.rejected == ()
    layer = json.loads(sig_manifest)["layers"][0]
    payload = bytearray(registry.get_blob(REPO, Digest.parse(layer["digest"])))
    payload[10] ^= 1
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert not any(k.verify(signature, bytes(payload)) for k in keys)


# --- cosign v3 layout (synthesized) -------------------------------------------------------------------

V3_STYLE = INTEROP / "local-python-v3-style"


async def test_v3_style_referrer_with_fallback_index_verifies() -> None:
    registry = InMemoryRegistry(referrers_api=False)
    image = put_image(registry, (V3_STYLE / "subject-manifest.json").read_bytes())
    bundle = registry.put_blob(REPO, (V3_STYLE / "bundle.sigstore.json").read_bytes())
    registry.put_blob(REPO, b"{}")
    registry.put_manifest(REPO, (V3_STYLE / "referrer-manifest.json").read_bytes(), OCI_MANIFEST)
    registry.put_manifest(
        REPO, (V3_STYLE / "fallback-index.json").read_bytes(), OCI_INDEX, image.digest.tag_prefix
    )
    verdict = await verify(
        registry, ImageRef(REPO, tag="v1"), key(SKOPEO / "rsa-2048.pub"), key(SKOPEO / "ecdsa-p256.pub")
    )
    assert [(v.format, v.signer_label) for v in verdict.verified] == [
        (V3, "ecdsa-p256.pub")
    ] and verdict.rejected == ()
    assert bundle.size == 659


def test_builders_reproduce_the_v3_style_referrer_manifest_and_fallback_index() -> None:
    subject_bytes = (V3_STYLE / "subject-manifest.json").read_bytes()
    subject = Descriptor(OCI_MANIFEST, Digest.of(subject_bytes), len(subject_bytes))
    created = datetime(2026, 11, 22, 2, 50, 52, tzinfo=UTC)
    manifest = build_referrer_manifest((V3_STYLE / "bundle.sigstore.json").read_bytes(), subject, created)
    assert manifest == (V3_STYLE / "referrer-manifest.json").read_bytes()
    assert (
        update_referrers_index(None, referrer_descriptor(manifest))
        == (V3_STYLE / "fallback-index.json").read_bytes()
    )


async def test_a_private_pki_signature_verifies_with_its_certificates_key_as_a_trusted_key() -> None:
    """cosign `sign --key --cert --cert-chain`: the leaf is from a private PKI, issued by the chain's first
    certificate; trusting the leaf's key (not an identity) verifies it."""
    directory = CI / "dir-img-cosign-pki-valid"
    layer = read_signature_file(directory / "signature-1")
    leaf = x509.load_pem_x509_certificate(layer[2][CERTIFICATE_ANNOTATION].encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificates(layer[2][CHAIN_ANNOTATION].encode())[0])
    registry = InMemoryRegistry()
    image = put_image(registry, (directory / "manifest.json").read_bytes())
    put_sig_manifest(registry, image.digest, [layer])
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), trusted_key_from(leaf.public_key(), "leaf"))
    assert verdict.ok and verdict.rejected == ()


# --- sigstore bundles (sigstore-go) ------------------------------------------------------------------


async def test_sigstore_go_message_signature_bundle_verifies_as_a_blob_but_not_as_an_image() -> None:
    data = (INTEROP / "sigstore-go/public-key-validity.sigstore.json").read_bytes()
    bundle = parse_bundle(data)
    signer = key(INTEROP / "sigstore-go/public-key-validity.pem")
    assert isinstance(bundle.content, MessageSignature) and bundle.public_key_hint == signer.hint
    assert bundle.content.digest == hashlib.sha256(b"test content").digest()
    assert signer.verify_prehashed(bundle.content.signature, bundle.content.digest, hashes.SHA256())
    assert bundle.tlog_entries == () and len(bundle.rfc3161_timestamps) == 1
    registry = InMemoryRegistry()
    image = put_image(registry, (SKOPEO / "image-manifest.json").read_bytes())
    attach_bundle(registry, image, data, repo=REPO)
    verdict = await verify(registry, ImageRef(REPO, tag="v1"), signer)
    assert [r.reason for r in verdict.rejected] == [
        "bundle holds a message signature (signs a blob), not a DSSE image signature"
    ]


@pytest.mark.parametrize("root", ["prod-trusted_root.json", "staging-trusted_root.json"])
def test_trusted_root_ecdsa_log_ids_are_the_sha256_of_their_keys(root: str) -> None:
    document = json.loads((INTEROP / "sigstore-python" / root).read_bytes())
    ecdsa_logs = [log for log in document["tlogs"] if "ECDSA" in log["publicKey"]["keyDetails"]]
    assert ecdsa_logs
    for log in ecdsa_logs:
        der = base64.b64decode(log["publicKey"]["rawBytes"])
        assert base64.b64decode(log["logId"]["keyId"]) == hashlib.sha256(der).digest()
