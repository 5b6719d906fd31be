"""Every vector in `tests/assets/interop/`, checked offline against the result its README documents.

Registry-shaped vectors are loaded into the in-memory registry and run through the real `Verifier`;
bundle and Rekor vectors go through the core's parsers, `TrustedKey` and `app.core.transparency.rekor`. Keyless
(certificate) signatures are checked to verify with the certificate's key and NOT with the configured
keys; certificate chains are only checked for direct issuance (full keyless is a later issue).
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
from app.core.formats.dsse import Envelope, parse_statement
from app.core.formats.layouts import (
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    REKOR_BUNDLE_ANNOTATION,
    build_referrer_manifest,
    referrer_descriptor,
    update_referrers_index,
)
from app.core.ports import OCI_INDEX, OCI_MANIFEST, Descriptor
from app.core.references import ImageRef, Repository
from app.core.transparency.rekor import (
    body_problem,
    parse_cosign_bundle_annotation,
    parse_entry_body,
    set_problem,
    signed_entry_of,
    trusted_root_log_keys,
)
from app.core.trust.keys import TrustedKey, load_public_key, trusted_key_from
from app.core.verification.trust_groups import NO_LOG, Trust
from app.core.verification.verdicts import ImageVerdict, SignatureFormat
from app.core.verification.verifier import NOT_VERIFIED, Verifier, VerifyOptions
from tests.core.signers import attach_bundle
from tests.fakes import InMemoryRegistry
from tests.fixtures.paths import INTEROP

REPO = Repository("registry.test", "vectors")
CI = INTEROP / "containers-image" / "fixtures"
SIGSTORE_HEADER = b"\x00sigstore-json\n"
V2, V3 = SignatureFormat.COSIGN_V2_SIG_TAG, SignatureFormat.COSIGN_V3_BUNDLE


def key(path: Path, name: str | None = None) -> TrustedKey:
    return load_public_key(path.read_bytes(), name or path.name)


def cert_key(pem_or_der: bytes, name: str = "certificate") -> TrustedKey:
    load = (
        x509.load_pem_x509_certificate
        if pem_or_der.lstrip().startswith(b"-----")
        else x509.load_der_x509_certificate
    )
    return trusted_key_from(load(pem_or_der).public_key(), name)


def read_signature_file(path: Path) -> tuple[str, bytes, dict[str, str]]:
    """A containers/image `dir:` sigstore signature: (layer media type, payload blob, layer annotations)."""
    data = path.read_bytes()
    assert data.startswith(SIGSTORE_HEADER)
    document = json.loads(data[len(SIGSTORE_HEADER) :])
    return document["mimeType"], base64.b64decode(document["payload"]), document["annotations"]


def put_sig_manifest(
    registry: InMemoryRegistry, digest: Digest, layers: list[tuple[str, bytes, dict[str, str]]]
) -> None:
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


async def verify(
    registry: InMemoryRegistry, ref: ImageRef, *keys: TrustedKey, **options: object
) -> ImageVerdict:
    return await Verifier(registry, options=VerifyOptions(**options)).verify(ref, Trust.keys(keys, NO_LOG))  # type: ignore[arg-type]


# --- containers/image fixtures ------------------------------------------------------------------

COSIGN, COSIGN2 = key(CI / "cosign.pub"), key(CI / "cosign2.pub")
REKOR = key(INTEROP / "containers-image" / "internal-testdata" / "rekor.pub")


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


@pytest.mark.parametrize("directory", ["dir-img-cosign-fulcio-rekor-valid", "dir-img-cosign-pki-valid"])
async def test_certificate_signatures_verify_with_the_certificate_key_whose_issuer_is_the_chain(
    directory: str,
) -> None:
    annotations = read_signature_file(CI / directory / "signature-1")[2]
    leaf = x509.load_pem_x509_certificate(annotations[CERTIFICATE_ANNOTATION].encode())
    intermediate = x509.load_pem_x509_certificates(annotations[CHAIN_ANNOTATION].encode())[0]
    leaf.verify_directly_issued_by(intermediate)
    registry = InMemoryRegistry()
    image = put_image(registry, (CI / directory / "manifest.json").read_bytes())
    put_sig_manifest(registry, image.digest, [(read_signature_file(CI / directory / "signature-1"))])
    verdict = await verify(
        registry, ImageRef(REPO, tag="v1"), cert_key(annotations[CERTIFICATE_ANNOTATION].encode())
    )
    assert verdict.ok and verdict.rejected == ()


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


@pytest.mark.parametrize(
    ("directory", "verifier_der"),
    [
        ("dir-img-cosign-key-rekor-valid", lambda a: COSIGN2.der),
        (
            "dir-img-cosign-fulcio-rekor-valid",
            lambda a: x509.load_pem_x509_certificate(a[CERTIFICATE_ANNOTATION].encode()).public_bytes(
                serialization.Encoding.DER
            ),
        ),
    ],
)
def test_rekor_bundle_annotations_have_a_valid_set_and_a_matching_body(
    directory: str, verifier_der: object
) -> None:
    _, payload, annotations = read_signature_file(CI / directory / "signature-1")
    entry = parse_cosign_bundle_annotation(annotations[REKOR_BUNDLE_ANNOTATION])
    assert entry.log_id == REKOR.fingerprint.split(":")[1]
    assert set_problem(entry, [REKOR]) is None
    assert set_problem(entry, [COSIGN]) is not None  # no log with that logID
    tampered = entry.__class__(
        entry.body, entry.integrated_time + 1, entry.log_id, entry.log_index, entry.signed_entry_timestamp
    )
    assert set_problem(tampered, [REKOR]) == "transparency log SET does not verify"
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    body = parse_entry_body(entry.body_bytes())
    assert (
        body_problem(body, hashlib.sha256(payload).hexdigest(), signature, verifier_der(annotations)) is None
    )  # type: ignore[operator]
    assert body_problem(body, hashlib.sha256(payload + b" ").hexdigest(), signature, COSIGN2.der) is not None


def test_standalone_rekor_set_vector_verifies() -> None:
    base = INTEROP / "containers-image" / "internal-testdata"
    payload, signature = (
        (base / "rekor-payload").read_bytes(),
        base64.b64decode((base / "rekor-sig").read_bytes()),
    )
    certificate = (base / "rekor-cert").read_bytes()
    assert cert_key(certificate).verify(signature, payload)
    assert not COSIGN.verify(signature, payload) and not COSIGN2.verify(signature, payload)
    entry = parse_cosign_bundle_annotation((base / "rekor-set").read_text())
    assert set_problem(entry, [REKOR]) is None
    der = x509.load_pem_x509_certificate(certificate).public_bytes(serialization.Encoding.DER)
    assert (
        body_problem(
            parse_entry_body(entry.body_bytes()), hashlib.sha256(payload).hexdigest(), signature, der
        )
        is None
    )


# --- connaisseur ------------------------------------------------------------------------------------

CONNAISSEUR = INTEROP / "connaisseur"
ALICE, BOB, CHARLIE, DEFAULT = (
    key(CONNAISSEUR / f"{n}.key", n) for n in ("alice", "bob", "charlie", "default")
)


def connaisseur_registry() -> InMemoryRegistry:
    registry = InMemoryRegistry()
    image_dir = CONNAISSEUR / "securesystemsengineering" / "testimage"
    for blob in (image_dir / "blobs").iterdir():
        data = blob.read_bytes()
        assert Digest.parse(blob.name.removesuffix(".json")).matches(data)
        registry.put_blob(REPO, data)
    for manifest in (image_dir / "manifests").glob("*.sig.json"):
        registry.put_manifest(REPO, manifest.read_bytes(), OCI_MANIFEST, manifest.name.removesuffix(".json"))
    return registry


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
    # README says the keyless layer's certificate annotation was stripped; it is present (and equals the
    # certificate in its Rekor body, checked below), so the rejection names it.
    assert [r.reason for r in verdict.rejected] == ([] if signers else [NOT_VERIFIED])


async def test_connaisseur_keyless_signature_verifies_with_the_certificate_in_its_rekor_body() -> None:
    digest = Digest("sha256", "31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee")
    sig_manifest = json.loads(
        (
            CONNAISSEUR / "securesystemsengineering/testimage/manifests" / f"{digest.signature_tag}.json"
        ).read_bytes()
    )
    annotations = sig_manifest["layers"][0]["annotations"]
    entry = parse_cosign_bundle_annotation(annotations[REKOR_BUNDLE_ANNOTATION])
    assert set_problem(entry, [REKOR]) is None
    logged = json.loads(entry.body_bytes())["spec"]["signature"]["publicKey"]["content"]
    certificate = base64.b64decode(logged)
    assert x509.load_pem_x509_certificate(certificate) == x509.load_pem_x509_certificate(
        annotations[CERTIFICATE_ANNOTATION].encode()
    )
    verdict = await verify(connaisseur_registry(), ImageRef(REPO, digest=digest), cert_key(certificate))
    assert verdict.ok
    payload = connaisseur_registry().get_blob(REPO, Digest.parse(sig_manifest["layers"][0]["digest"]))
    der = x509.load_pem_x509_certificate(certificate).public_bytes(serialization.Encoding.DER)
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    assert (
        body_problem(
            parse_entry_body(entry.body_bytes()), hashlib.sha256(payload).hexdigest(), signature, der
        )
        is None
    )


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


# --- sigstore bundles (cosign, sigstore-go, sigstore-js, sigstore-python) -----------------------------

PROD_ROOT = trusted_root_log_keys((INTEROP / "sigstore-python" / "prod-trusted_root.json").read_bytes())
STAGING_ROOT = trusted_root_log_keys((INTEROP / "sigstore-python" / "staging-trusted_root.json").read_bytes())


@pytest.mark.parametrize(
    ("path", "root"),
    [
        ("cosign/oci-attestation.sigstore.json", "cosign/trusted_root_pgi.json"),
        ("sigstore-js/bundleV03-dsse.sigstore", "sigstore-python/prod-trusted_root.json"),
    ],
)
def test_keyless_dsse_bundles_verify_with_their_certificate_and_set(path: str, root: str) -> None:
    bundle = parse_bundle((INTEROP / path).read_bytes())
    assert isinstance(bundle.content, Envelope) and bundle.version == (0, 3)
    leaf = cert_key(bundle.certificates[0])
    assert leaf.verify(bundle.content.signature, bundle.content.signed_bytes())
    assert not COSIGN.verify(bundle.content.signature, bundle.content.signed_bytes())
    (entry,) = bundle.tlog_entries
    assert set_problem(signed_entry_of(entry), trusted_root_log_keys((INTEROP / root).read_bytes())) is None
    body = parse_entry_body(entry.canonicalized_body)
    artifact = hashlib.sha256(bundle.content.payload).hexdigest()
    assert body_problem(body, artifact, bundle.content.signature, bundle.certificates[0]) is None


async def test_cosign_attestation_bundle_counts_as_a_signature_only_when_its_predicate_is_accepted() -> None:
    data = (INTEROP / "cosign/oci-attestation.sigstore.json").read_bytes()
    bundle = parse_bundle(data)
    assert isinstance(bundle.content, Envelope)
    statement = parse_statement(bundle.content.payload)
    subject = Digest("sha256", statement.subjects[0].digests["sha256"])
    registry = InMemoryRegistry()
    attach_bundle(
        registry, Descriptor(OCI_MANIFEST, subject, 1234), data, statement.predicate_type, repo=REPO
    )
    leaf = cert_key(bundle.certificates[0])
    denied = await verify(registry, ImageRef(REPO, digest=subject), leaf)
    assert [r.reason for r in denied.rejected] == [
        f"bundle predicateType {statement.predicate_type} is not https://sigstore.dev/cosign/sign/v1"
    ]
    accepted = await verify(
        registry,
        ImageRef(REPO, digest=subject),
        leaf,
        accepted_predicate_types=frozenset({statement.predicate_type}),
    )
    assert accepted.ok
    by_key = await verify(registry, ImageRef(REPO, digest=subject), COSIGN)
    assert [r.reason for r in by_key.rejected] == [NOT_VERIFIED]


def test_sigstore_go_key_signed_v01_bundle_verifies_and_its_set_is_valid() -> None:
    bundle = parse_bundle((INTEROP / "sigstore-go/bundle-publish.json").read_bytes())
    assert (
        bundle.version == (0, 1)
        and bundle.public_key_hint == "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"
    )
    assert isinstance(bundle.content, Envelope)
    assert key(INTEROP / "sigstore-go/publish_key.pub").verify(
        bundle.content.signature, bundle.content.signed_bytes()
    )
    root = trusted_root_log_keys((INTEROP / "sigstore-go/trusted-root-public-good.json").read_bytes())
    assert set_problem(signed_entry_of(bundle.tlog_entries[0]), root) is None


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


@pytest.mark.parametrize(
    ("name", "consistent"), [("bundle_v3.txt", True), ("bundle_cve_2022_36056.txt", False)]
)
def test_sigstore_python_message_bundles_have_valid_sets_but_only_one_has_a_matching_log_entry(
    name: str, consistent: bool
) -> None:
    artifact = (INTEROP / "sigstore-python" / name).read_bytes()
    bundle = parse_bundle((INTEROP / "sigstore-python" / f"{name}.sigstore").read_bytes())
    assert isinstance(bundle.content, MessageSignature)
    assert bundle.content.digest == hashlib.sha256(artifact).digest()
    leaf = cert_key(bundle.certificates[0])
    assert leaf.verify_prehashed(bundle.content.signature, bundle.content.digest, hashes.SHA256())
    (entry,) = bundle.tlog_entries
    assert set_problem(signed_entry_of(entry), STAGING_ROOT) is None
    assert set_problem(signed_entry_of(entry), PROD_ROOT) is not None
    problem = body_problem(
        parse_entry_body(entry.canonicalized_body),
        hashlib.sha256(artifact).hexdigest(),
        bundle.content.signature,
        bundle.certificates[0],
    )
    assert (problem is None) is consistent


@pytest.mark.parametrize("root", ["prod-trusted_root.json", "staging-trusted_root.json"])
def test_trusted_root_ecdsa_log_ids_are_the_sha256_of_their_keys(root: str) -> None:
    document = json.loads((INTEROP / "sigstore-python" / root).read_bytes())
    ecdsa_logs = [log for log in document["tlogs"] if "ECDSA" in log["publicKey"]["keyDetails"]]
    assert ecdsa_logs
    for log in ecdsa_logs:
        der = base64.b64decode(log["publicKey"]["rawBytes"])
        assert base64.b64decode(log["logId"]["keyId"]) == hashlib.sha256(der).digest()
