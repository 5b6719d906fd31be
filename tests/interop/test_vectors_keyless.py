"""Every keyless and Rekor vector in `tests/assets/interop/`, verified offline with the production trusted root.

The production root is the built-in `public-good` (byte for byte sigstore-python's copy of the Sigstore
TUF target). Each vector goes through the seam images go through: `.sig` layers (containers/image,
connaisseur) into the in-memory registry and the real `Verifier`; bundles (cosign, sigstore-go, -js,
-python) through `verify_bundle_for_artifact`, or the `Verifier` when they are image attestations. So
every check runs on real Sigstore data: the SET and the body binding of the Rekor entry, the inclusion
proof and checkpoint where there is one, the Fulcio chain and the embedded SCT at the integrated time,
and the identity. Every negative case fails at the step, and for the reason, its README states.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from app.core.digests import Digest
from app.core.errors import NotVerified
from app.core.formats.bundles import parse_bundle
from app.core.formats.dsse import Envelope, parse_statement
from app.core.formats.layouts import CERTIFICATE_ANNOTATION, REKOR_BUNDLE_ANNOTATION
from app.core.ports import OCI_MANIFEST, Descriptor
from app.core.references import ImageRef
from app.core.trust import builtin
from app.core.trust.builtin import public_good
from app.core.trust.identities import IdentityMatcher
from app.core.trust.roots import TrustedRoot, parse_trusted_root
from app.core.trust.signers import IdentitySigner, KeySigner, TrustedSigner
from app.core.verification.artifacts import verify_bundle_for_artifact
from app.core.verification.entity_checks import EntityVerdict, Requirements, verify_entity
from app.core.verification.layer_entities import entity_from_layer
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.core.verification.verifier import NOT_VERIFIED, Verifier, VerifyOptions
from tests.core.signers import attach_bundle
from tests.fakes import InMemoryRegistry
from tests.fixtures.paths import INTEROP
from tests.interop.vectorfiles import (
    CI,
    CONNAISSEUR,
    REPO,
    Layer,
    connaisseur_registry,
    key,
    put_image,
    put_sig_manifest,
    read_signature_file,
)

REQUIRED = Requirements()  # a log entry and an SCT: cosign's defaults
GITHUB_OAUTH = "https://github.com/login/oauth"  # the OIDC issuer of every keyless vector here
PUBLIC_REKOR = "https://rekor.sigstore.dev"
STAGING = parse_trusted_root((INTEROP / "sigstore-python/staging-trusted_root.json").read_bytes(), "staging")
NOT_LOGGED = "no verified transparency log entry (the signature is not logged in a trusted log)"
NOT_TRUSTED = "which the policy does not trust"


def identity(subject: str, issuer: str = GITHUB_OAUTH) -> IdentitySigner:
    return IdentitySigner(IdentityMatcher.build(subject=subject, issuer=issuer))


def when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def verify_image(
    registry: InMemoryRegistry, ref: ImageRef, *signers: TrustedSigner, **options: object
) -> ImageVerdict:
    trust = Trust.of((signer, public_good(), REQUIRED) for signer in signers)
    return await Verifier(registry, options=VerifyOptions(**options)).verify(ref, trust)  # type: ignore[arg-type]


def verify_artifact(
    path: str,
    digest: Digest,
    *signers: TrustedSigner,
    data: bytes | None = None,
    root: TrustedRoot | None = None,
    requirements: Requirements = REQUIRED,
) -> EntityVerdict:
    return verify_bundle_for_artifact(
        (INTEROP / path).read_bytes(),
        digest,
        data,
        root or public_good(),
        signers,
        requirements,
        datetime.now(UTC),
    )


def refusal(run: Callable[[], object]) -> tuple[str, str]:
    """(step, reason) of the `NotVerified` that `run` raises."""
    with pytest.raises(NotVerified) as caught:
        run()
    return caught.value.step, caught.value.reason


# --- the production root itself --------------------------------------------------------------------


def test_the_built_in_root_is_sigstore_pythons_production_root_byte_for_byte() -> None:
    shipped = Path(builtin.__file__).with_name("public_good_trusted_root.json").read_bytes()
    assert shipped == (INTEROP / "sigstore-python/prod-trusted_root.json").read_bytes()


def test_the_vectors_rekor_key_and_fulcio_root_are_the_production_roots_own() -> None:
    rekor = key(INTEROP / "containers-image/internal-testdata/rekor.pub")
    log = public_good().tlog(bytes.fromhex(rekor.fingerprint.removeprefix("sha256:")))
    assert log is not None and log.base_url == PUBLIC_REKOR and log.key.der == rekor.der
    fulcio_v1 = x509.load_pem_x509_certificate((CI / "fulcio_v1.crt.pem").read_bytes())
    anchors = [
        ca.certificates[-1] for ca in public_good().certificate_authorities if ca.valid_for.end is None
    ]
    assert anchors == [fulcio_v1]  # containers/image's Fulcio root anchors today's public-good CA


# --- containers/image: cosign `.sig` layers logged in the public-good Rekor ---------------------------

KEY_REKOR = CI / "dir-img-cosign-key-rekor-valid"
FULCIO_REKOR = CI / "dir-img-cosign-fulcio-rekor-valid"
MITR = identity("mitr@redhat.com")


def registry_with(directory: Path, layer: Layer) -> tuple[InMemoryRegistry, ImageRef]:
    registry = InMemoryRegistry()
    image = put_image(registry, (directory / "manifest.json").read_bytes())
    put_sig_manifest(registry, image.digest, [layer])
    return registry, ImageRef(REPO, digest=image.digest)


def layer_of(directory: Path, replaced: dict[str, str] | None = None) -> Layer:
    """The vector's `.sig` layer, with some annotations replaced (tampered with) when given."""
    media_type, payload, found = read_signature_file(directory / "signature-1")
    return media_type, payload, {**found, **(replaced or {})}


async def test_a_key_signed_image_logged_in_rekor_verifies_with_the_production_root() -> None:
    verdict = await verify_image(
        *registry_with(KEY_REKOR, layer_of(KEY_REKOR)), KeySigner(key(CI / "cosign2.pub"))
    )
    (signature,) = verdict.verified
    (entry,) = signature.log_entries
    assert (entry.log_url, entry.log_index, entry.integrated_time) == (
        PUBLIC_REKOR,
        11608800,
        when(1674251859),
    )
    other = await verify_image(
        *registry_with(KEY_REKOR, layer_of(KEY_REKOR)), KeySigner(key(CI / "cosign.pub"))
    )
    assert [(r.step, r.reason) for r in other.rejected] == [("key", NOT_VERIFIED)]


async def test_a_keyless_image_verifies_for_its_identity_at_its_integrated_time() -> None:
    verdict = await verify_image(*registry_with(FULCIO_REKOR, layer_of(FULCIO_REKOR)), MITR)
    (signature,) = verdict.verified
    assert (
        signature.identity is not None
        and str(signature.identity) == f"mitr@redhat.com (issuer {GITHUB_OAUTH})"
    )
    (entry,) = signature.log_entries
    assert (entry.log_url, entry.log_index) == (PUBLIC_REKOR, 11605770)
    assert [t.source for t in signature.times] == [f"tlog {PUBLIC_REKOR}"]


def _shifted_time(directory: Path) -> str:
    annotation = json.loads(layer_of(directory)[2][REKOR_BUNDLE_ANNOTATION])
    annotation["Payload"]["integratedTime"] += 1
    return json.dumps(annotation)


FULCIO_REKOR_REFUSALS = {
    "another subject": (
        identity("someone@redhat.com"), {}, "identity", NOT_TRUSTED,
    ),
    "another issuer": (
        identity("mitr@redhat.com", "https://accounts.google.com"), {}, "identity", NOT_TRUSTED,
    ),
    "a SET over another integrated time": (
        MITR,
        {REKOR_BUNDLE_ANNOTATION: _shifted_time(FULCIO_REKOR)},
        "tlog",
        "signed entry timestamp (SET) does not verify",
    ),
    "the Rekor entry of another signature": (
        MITR,
        {REKOR_BUNDLE_ANNOTATION: layer_of(KEY_REKOR)[2][REKOR_BUNDLE_ANNOTATION]},
        "tlog",
        "entry records another signature",
    ),
    "the certificate of another signer": (
        MITR,
        {CERTIFICATE_ANNOTATION: (INTEROP / "containers-image/internal-testdata/rekor-cert").read_text()},
        "signature",
        "signature does not verify with the signing certificate's key",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("case"), list(FULCIO_REKOR_REFUSALS))
async def test_the_keyless_image_is_refused_for_the_stated_reason(case: str) -> None:
    signer, annotations, step, reason = FULCIO_REKOR_REFUSALS[case]
    verdict = await verify_image(*registry_with(FULCIO_REKOR, layer_of(FULCIO_REKOR, annotations)), signer)
    assert not verdict.ok
    ((found_step, found_reason),) = [(r.step, r.reason) for r in verdict.rejected]
    assert found_step == step and reason in found_reason, found_reason


async def test_a_private_pki_certificate_is_not_logged_and_does_not_chain_to_the_public_good_fulcio() -> None:
    directory = CI / "dir-img-cosign-pki-valid"
    anyone = IdentitySigner(IdentityMatcher.build(subject_regexp=".*", issuer_regexp=".*"))
    logged = await verify_image(*registry_with(directory, layer_of(directory)), anyone)
    assert [(r.step, r.reason) for r in logged.rejected] == [("tlog", NOT_LOGGED)]
    registry, ref = registry_with(directory, layer_of(directory))
    waived = await Verifier(registry).verify(ref, Trust.of([(anyone, public_good(), Requirements(False))]))
    ((step, reason),) = [(r.step, r.reason) for r in waived.rejected]
    assert step == "timestamp" and "no verified transparency log entry or RFC 3161 timestamp" in reason


def test_the_standalone_rekor_vector_verifies_and_a_changed_payload_does_not() -> None:
    base = INTEROP / "containers-image/internal-testdata"
    annotations = {
        CERTIFICATE_ANNOTATION: (base / "rekor-cert").read_text(),
        REKOR_BUNDLE_ANNOTATION: (base / "rekor-set").read_text(),
    }
    signature, payload = (
        base64.b64decode((base / "rekor-sig").read_bytes()),
        (base / "rekor-payload").read_bytes(),
    )
    now = datetime.now(UTC)
    verdict = verify_entity(
        entity_from_layer(annotations, signature, payload), public_good(), [MITR], REQUIRED, now
    )
    assert [(e.log_index, e.integrated_time) for e in verdict.log_entries] == [(8949589, when(1670870899))]
    changed = entity_from_layer(annotations, signature, payload + b"\n")
    assert refusal(lambda: verify_entity(changed, public_good(), [MITR], REQUIRED, now)) == (
        "signature",
        "signature does not verify with the signing certificate's key",
    )


# --- connaisseur: a keyless `.sig` layer in a registry layout ------------------------------------------

KEYLESS_IMAGE = Digest("sha256", "31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee")
BELITZ = identity("philipp.belitz@securesystems.de")


async def test_connaisseurs_keyless_image_verifies_for_its_identity_and_not_for_another() -> None:
    verdict = await verify_image(connaisseur_registry(), ImageRef(REPO, digest=KEYLESS_IMAGE), BELITZ)
    (signature,) = verdict.verified
    assert [(e.log_url, e.log_index) for e in signature.log_entries] == [(PUBLIC_REKOR, 98235800)]
    other = await verify_image(connaisseur_registry(), ImageRef(REPO, digest=KEYLESS_IMAGE), MITR)
    assert [r.step for r in other.rejected] == ["identity"] and NOT_TRUSTED in other.rejected[0].reason
    keys = [KeySigner(key(CONNAISSEUR / f"{name}.key", name)) for name in ("alice", "bob", "charlie")]
    by_keys = await verify_image(connaisseur_registry(), ImageRef(REPO, digest=KEYLESS_IMAGE), *keys)
    assert [(r.step, r.reason) for r in by_keys.rejected] == [("key", NOT_VERIFIED)]


# --- bundles: cosign, sigstore-js, sigstore-go, sigstore-python -------------------------------------


def subject_of(path: str) -> Digest:
    """The first subject of the in-toto statement in the bundle at `path` (sha256, else sha512)."""
    bundle = parse_bundle((INTEROP / path).read_bytes())
    assert isinstance(bundle.content, Envelope)
    digests = parse_statement(bundle.content.payload).subjects[0].digests
    algorithm = "sha256" if "sha256" in digests else "sha512"
    return Digest(algorithm, digests[algorithm])


COSIGN_ATTESTATION = "cosign/oci-attestation.sigstore.json"
CODY = identity("cody@soyland.com")


async def test_cosigns_attestation_bundle_verifies_for_its_identity_once_its_predicate_is_accepted() -> None:
    data = (INTEROP / COSIGN_ATTESTATION).read_bytes()
    bundle = parse_bundle(data)
    assert isinstance(bundle.content, Envelope)
    statement = parse_statement(bundle.content.payload)
    image = Descriptor(OCI_MANIFEST, subject_of(COSIGN_ATTESTATION), 1234)
    registry = InMemoryRegistry()
    attach_bundle(registry, image, data, statement.predicate_type, repo=REPO)
    ref = ImageRef(REPO, digest=image.digest)
    accepted = frozenset({statement.predicate_type})
    verdict = await verify_image(registry, ref, CODY, accepted_predicate_types=accepted)
    (signature,) = verdict.verified
    assert [(e.log_index, e.integrated_time) for e in signature.log_entries] == [
        (175508996, when(1740770291))
    ]
    denied = await verify_image(registry, ref, CODY)
    assert [r.reason for r in denied.rejected] == [
        f"bundle predicateType {statement.predicate_type} is not https://sigstore.dev/cosign/sign/v1"
    ]
    other = await verify_image(registry, ref, MITR, accepted_predicate_types=accepted)
    assert [r.step for r in other.rejected] == ["identity"]


def test_cosigns_attestation_bundle_is_proven_by_its_inclusion_proof_too() -> None:
    (entry,) = parse_bundle((INTEROP / COSIGN_ATTESTATION).read_bytes()).tlog_entries
    assert entry.inclusion_proof is not None and entry.inclusion_proof["checkpoint"]["envelope"]
    document = json.loads((INTEROP / COSIGN_ATTESTATION).read_bytes())
    proof = document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["rootHash"] = base64.b64encode(bytes(32)).decode()
    tampered = json.dumps(document).encode()
    step, reason = refusal(
        lambda: verify_bundle_for_artifact(
            tampered, subject_of(COSIGN_ATTESTATION), None, public_good(), [CODY], REQUIRED, datetime.now(UTC)
        )
    )
    assert step == "tlog" and "inclusion proof does not lead to the tree's root hash" in reason


SIGSTORE_JS = "sigstore-js/bundleV03-dsse.sigstore"


def test_sigstore_js_dsse_bundle_verifies_for_its_sha512_subject_and_identity() -> None:
    verdict = verify_artifact(SIGSTORE_JS, subject_of(SIGSTORE_JS), identity("brian@dehamer.com"))
    assert [(e.log_url, e.log_index) for e in verdict.log_entries] == [(PUBLIC_REKOR, 27246114)]
    assert refusal(
        lambda: verify_artifact(SIGSTORE_JS, Digest.of(b"another"), identity("brian@dehamer.com"))
    ) == (
        "material",
        f"the in-toto statement has no subject with the artifact's digest {Digest.of(b'another')}",
    )
    assert refusal(lambda: verify_artifact(SIGSTORE_JS, subject_of(SIGSTORE_JS), MITR))[0] == "identity"


PUBLISH = "sigstore-go/bundle-publish.json"
PUBLISH_KEY = KeySigner(key(INTEROP / "sigstore-go/publish_key.pub"))


def test_sigstore_go_key_signed_bundle_verifies_with_its_intoto_entry_in_the_public_good_log() -> None:
    verdict = verify_artifact(PUBLISH, subject_of(PUBLISH), PUBLISH_KEY)
    assert [(e.log_index, e.integrated_time) for e in verdict.log_entries] == [(18300940, when(1681839916))]
    alice = KeySigner(key(CONNAISSEUR / "alice.key"))
    assert refusal(lambda: verify_artifact(PUBLISH, subject_of(PUBLISH), alice)) == ("key", NOT_VERIFIED)


def test_sigstore_go_timestamp_only_bundle_is_not_logged_and_its_tsa_is_not_the_production_one() -> None:
    path, artifact = "sigstore-go/public-key-validity.sigstore.json", b"test content"
    signer = KeySigner(key(INTEROP / "sigstore-go/public-key-validity.pem"))
    assert refusal(lambda: verify_artifact(path, Digest.of(artifact), signer, data=artifact)) == (
        "tlog",
        NOT_LOGGED,
    )
    step, reason = refusal(
        lambda: verify_artifact(
            path, Digest.of(artifact), signer, data=artifact, requirements=Requirements(False)
        )
    )
    assert step == "timestamp" and reason.startswith("RFC 3161 timestamp: ")


@pytest.mark.parametrize(
    ("name", "staging"),
    [("bundle_v3.txt", None), ("bundle_cve_2022_36056.txt", "entry records another signature")],
    ids=["valid", "CVE-2022-36056"],
)
def test_sigstore_python_staging_bundles_prove_nothing_to_the_production_root(
    name: str, staging: str | None
) -> None:
    artifact = (INTEROP / "sigstore-python" / name).read_bytes()
    william = identity("william@yossarian.net")

    def run(root: TrustedRoot) -> EntityVerdict:
        return verify_artifact(
            f"sigstore-python/{name}.sigstore", Digest.of(artifact), william, data=artifact, root=root
        )

    assert refusal(lambda: run(public_good())) == ("tlog", NOT_LOGGED)
    if staging is None:
        assert [e.log_url for e in run(STAGING).log_entries] == ["https://rekor.sigstage.dev"]
    else:  # a valid signature and a valid SET, but the entry is about another signature
        step, reason = refusal(lambda: run(STAGING))
        assert step == "tlog" and reason.endswith(staging)


# --- the embedded SCTs are real evidence ------------------------------------------------------------


def without_ct_logs() -> TrustedRoot:
    """The production root with its CT logs removed: no SCT can verify against it."""
    document = json.loads((INTEROP / "sigstore-python/prod-trusted_root.json").read_bytes())
    document["ctlogs"] = []
    return parse_trusted_root(json.dumps(document).encode(), "no-ct-logs")


@pytest.mark.parametrize(
    ("path", "signer"),
    [(SIGSTORE_JS, identity("brian@dehamer.com")), (COSIGN_ATTESTATION, CODY)],
    ids=["sigstore-js", "cosign"],
)
def test_the_certificates_scts_are_checked_against_the_production_ct_logs(
    path: str, signer: IdentitySigner
) -> None:
    step, reason = refusal(lambda: verify_artifact(path, subject_of(path), signer, root=without_ct_logs()))
    assert step == "sct" and reason.startswith("no embedded SCT verifies with a trusted CT log")
    waived = Requirements(sct=False)
    assert verify_artifact(
        path, subject_of(path), signer, root=without_ct_logs(), requirements=waived
    ).signers
