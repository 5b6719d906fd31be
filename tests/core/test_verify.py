"""Table tests of `Verifier` against the in-memory registry: what is signed, what is not, and why."""

from __future__ import annotations

import base64
import json

import pytest

from app.core.digests import Digest
from app.core.formats.bundles import build_bundle
from app.core.formats.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, build_statement, pae
from app.core.formats.layouts import SIGNATURE_ANNOTATION
from app.core.formats.simplesigning import SIMPLESIGNING_MEDIA_TYPE, build_payload
from app.core.ports import OCI_MANIFEST
from app.core.verification.verdicts import SignatureFormat
from app.core.verification.verifier import COSIGN_SIGN_PREDICATE, NOT_VERIFIED, Verifier, VerifyOptions
from tests.core.signers import (
    REPO,
    attach_bundle,
    by_digest,
    by_tag,
    ecdsa,
    ed,
    push_image,
    rsa_key,
    sign_v2,
    sign_v3,
    unlogged,
)
from tests.fakes import InMemoryRegistry

V2, V3 = SignatureFormat.COSIGN_V2_SIG_TAG, SignatureFormat.COSIGN_V3_BUNDLE
ALICE, BOB, CHARLIE, MALLORY = ecdsa("alice"), ecdsa("bob"), ecdsa("charlie"), ecdsa("mallory")
PROVENANCE = "https://slsa.dev/provenance/v1"


def reasons(verdict: object) -> list[str]:
    return [r.reason for r in verdict.rejected]  # type: ignore[attr-defined]


@pytest.fixture(params=[True, False], ids=["referrers-api", "fallback-index"])
def registry(request: pytest.FixtureRequest) -> InMemoryRegistry:
    return InMemoryRegistry(referrers_api=request.param)


async def test_image_signed_with_a_v2_signature_verifies(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert verdict.ok and verdict.digest == image.digest
    assert [(v.format, v.signer_label, v.location) for v in verdict.verified] == [
        (V2, "alice", f"{image.digest.signature_tag} layer 0")
    ]
    assert verdict.rejected == ()


async def test_image_signed_with_a_v3_bundle_verifies(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    referrer = sign_v3(registry, image, ALICE)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert [(v.format, v.key_fingerprint, v.location) for v in verdict.verified] == [
        (V3, ALICE.key.fingerprint, f"referrer {referrer}")
    ]
    assert verdict.rejected == ()


async def test_image_signed_in_both_formats_reports_both(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE)
    sign_v3(registry, image, BOB)
    verdict = await Verifier(registry).verify(by_digest(image.digest), unlogged(ALICE.key, BOB.key))
    assert sorted((v.format.value, v.signer_label) for v in verdict.verified) == [
        (V2.value, "alice"),
        (V3.value, "bob"),
    ]


async def test_unsigned_image_has_no_signatures_and_no_rejections(registry: InMemoryRegistry) -> None:
    push_image(registry, "v1")
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok and verdict.rejected == ()
    assert verdict.reason().startswith("no signatures found")


async def test_signatures_by_an_untrusted_key_are_rejected(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, MALLORY)
    sign_v3(registry, image, MALLORY)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key, BOB.key))
    assert not verdict.ok
    assert [(r.format, r.reason) for r in verdict.rejected] == [(V2, NOT_VERIFIED), (V3, NOT_VERIFIED)]


async def test_tag_moved_after_signing_is_not_verified(registry: InMemoryRegistry) -> None:
    signed = push_image(registry, "v1", content="old")
    sign_v2(registry, signed.digest, ALICE)
    sign_v3(registry, signed, ALICE)
    moved = push_image(registry, "v1", content="new")
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert verdict.digest == moved.digest and not verdict.ok


async def test_v2_signature_copied_onto_another_image_is_rejected_for_its_digest_claim(
    registry: InMemoryRegistry,
) -> None:
    signed = push_image(registry, "good", content="good")
    other = push_image(registry, "evil", content="evil")
    sign_v2(registry, signed.digest, ALICE, sig_tag_of=other.digest)  # signed payload, other image's tag
    verdict = await Verifier(registry).verify(by_tag("evil"), unlogged(ALICE.key))
    assert not verdict.ok
    assert reasons(verdict) == [f"payload claims digest {signed.digest} but the image is {other.digest}"]


async def test_v3_bundle_copied_onto_another_image_is_rejected_for_its_subject(
    registry: InMemoryRegistry,
) -> None:
    signed = push_image(registry, "good", content="good")
    other = push_image(registry, "evil", content="evil")
    statement = build_statement(signed.digest)
    bundle = build_bundle(
        Envelope(IN_TOTO_PAYLOAD_TYPE, statement, ALICE.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement))), ""
    )
    attach_bundle(registry, other, bundle)
    verdict = await Verifier(registry).verify(by_tag("evil"), unlogged(ALICE.key))
    assert reasons(verdict) == [f"bundle subject does not name the image {other.digest}"]


async def test_payload_changed_after_signing_is_rejected(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    payload = build_payload(str(REPO), image.digest)
    signature = ALICE.sign(payload)
    changed = payload.replace(b'"optional":null', b'"optional":{"x":"y"}')
    registry.put_blob(REPO, changed)
    layer = {
        "mediaType": SIMPLESIGNING_MEDIA_TYPE,
        "size": len(changed),
        "digest": str(Digest.of(changed)),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()},
    }
    sig = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": layer, "layers": [layer]}
    registry.put_manifest(REPO, json.dumps(sig).encode(), OCI_MANIFEST, image.digest.signature_tag)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert reasons(verdict) == [NOT_VERIFIED]


async def test_payload_blob_that_does_not_match_its_digest_is_rejected(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    payload = sign_v2(registry, image.digest, ALICE)
    registry.corrupt_blob(REPO, Digest.of(payload), payload.replace(b"cosign", b"cosigN"))
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok
    assert len(reasons(verdict)) == 1 and "does not match its digest" in reasons(verdict)[0]


def _sig_manifest(*layers: object) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": list(layers)}).encode()


def _layer(**overrides: object) -> dict[str, object]:
    layer: dict[str, object] = {
        "mediaType": SIMPLESIGNING_MEDIA_TYPE,
        "size": 2,
        "digest": str(Digest.of(b"{}")),
        "annotations": {SIGNATURE_ANNOTATION: "MEUCIQ=="},
    }
    layer.update(overrides)
    return layer


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b"\x00\xffnot json", "garbage: signature manifest is not JSON"),
        (b"[1, 2]", "garbage: signature manifest is not a JSON object"),
        (b'{"layers": {}}', "garbage: signature manifest has no layers list"),
        (_sig_manifest(_layer(annotations={})), f"garbage: layer has no {SIGNATURE_ANNOTATION} annotation"),
        (
            _sig_manifest(_layer(annotations={SIGNATURE_ANNOTATION: "%%%"})),
            "garbage: signature annotation is not valid base64",
        ),
        (
            _sig_manifest(_layer(digest="sha256:beef")),
            "garbage: layer 0: invalid sha256 digest: expected 64 lower-case hex characters",
        ),
        (_sig_manifest(_layer(size=-1)), "garbage: layer 0 has no valid size"),
        (_sig_manifest("layer"), "garbage: layer 0 is not a descriptor object"),
        (
            _sig_manifest(_layer(size=10**9)),
            "payload blob of 1000000000 bytes is larger than the 1048576 allowed",
        ),
        (
            _sig_manifest(_layer()),
            "payload blob sha256:44136fa355b3 could not be read: blob sha256:44136fa355b3 is missing from the registry",
        ),
    ],
)
async def test_garbage_sig_manifest_is_a_rejection_not_a_crash(manifest: bytes, expected: str) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    registry.put_manifest(REPO, manifest, OCI_MANIFEST, image.digest.signature_tag)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok and reasons(verdict) == [expected]


async def test_garbage_payload_that_verifies_is_still_rejected() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, ALICE, payload=b'{"critical": "nope"}')
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert reasons(verdict) == ["garbage: payload field critical is missing or not an object"]


async def test_payload_of_another_simple_signing_type_is_rejected() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    payload = build_payload(str(REPO), image.digest).replace(
        b"cosign container image signature", b"atomic container signature"
    )
    sign_v2(registry, image.digest, ALICE, payload=payload)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert reasons(verdict) == [
        "payload type 'atomic container signature' is not 'cosign container image signature'"
    ]


def _envelope_bundle(
    envelope: dict[str, object],
    hint: str = "",
    media_type: str = "application/vnd.dev.sigstore.bundle.v0.3+json",
) -> bytes:
    return json.dumps(
        {
            "mediaType": media_type,
            "verificationMaterial": {"publicKey": {"hint": hint}},
            "dsseEnvelope": envelope,
        }
    ).encode()


def _signed_envelope(digest: Digest, **overrides: object) -> dict[str, object]:
    statement = build_statement(digest)
    envelope = Envelope(
        IN_TOTO_PAYLOAD_TYPE, statement, ALICE.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement))
    ).to_json()
    envelope.update(overrides)
    return envelope


@pytest.mark.parametrize(
    ("make_bundle", "expected"),
    [
        (lambda d: b"{not json", "garbage: bundle is not JSON"),
        (
            lambda d: b'{"mediaType": "application/vnd.dev.sigstore.bundle.v9.9+json"}',
            "garbage: unsupported bundle media type 'application/vnd.dev.sigstore.bundle.v9.9+json'",
        ),
        (
            lambda d: _envelope_bundle(_signed_envelope(d, signatures=[])),
            "garbage: DSSE envelope has 0 signatures; exactly one is required",
        ),
        (
            lambda d: _envelope_bundle(_signed_envelope(d, payload="***")),
            "garbage: DSSE payload is not valid base64",
        ),
        (
            lambda d: _envelope_bundle(
                _signed_envelope(d, signatures=[{"sig": "MEUC", "keyid": "other"}]), hint="mine"
            ),
            "garbage: bundle publicKey.hint does not match the DSSE signature keyid",
        ),
        (
            lambda d: _envelope_bundle(
                _signed_envelope(d), media_type="application/vnd.dev.sigstore.bundle+json;version=0.2"
            ),
            "bundle version 0.2 is older than 0.3, which cosign requires for images",
        ),
        (
            lambda d: _envelope_bundle(_signed_envelope(d, payloadType="text/plain")),
            "DSSE payloadType 'text/plain' is not application/vnd.in-toto+json",
        ),
    ],
)
async def test_garbage_bundle_is_a_rejection_not_a_crash(make_bundle: object, expected: str) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    attach_bundle(registry, image, make_bundle(image.digest))  # type: ignore[operator]
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok and reasons(verdict) == [expected]


async def test_bundle_whose_statement_is_garbage_is_rejected_after_the_signature_checks() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v3(registry, image, ALICE, statement=b'{"_type": "https://in-toto.io/Statement/v1"}')
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert reasons(verdict) == ["garbage: in-toto statement has no predicateType"]


async def test_bundle_with_a_non_sign_predicate_is_denied_unless_configured() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v3(registry, image, ALICE, predicate_type=PROVENANCE)
    denied = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert reasons(denied) == [f"bundle predicateType {PROVENANCE} is not {COSIGN_SIGN_PREDICATE}"]
    options = VerifyOptions(accepted_predicate_types=frozenset({COSIGN_SIGN_PREDICATE, PROVENANCE}))
    allowed = await Verifier(registry, options=options).verify(by_tag("v1"), unlogged(ALICE.key))
    assert allowed.ok


async def test_message_signature_bundle_over_an_image_is_rejected() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    manifest = registry.get_manifest(REPO, "v1")
    assert manifest is not None
    bundle = json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": ALICE.key.hint}},
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": base64.b64encode(image.digest.hex.encode()).decode(),
                },
                "signature": base64.b64encode(ALICE.sign(manifest)).decode(),
            },
        }
    ).encode()
    attach_bundle(registry, image, bundle)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert reasons(verdict) == ["bundle holds a message signature (signs a blob), not a DSSE image signature"]


async def test_non_signature_attachments_are_ignored(registry: InMemoryRegistry) -> None:
    image = push_image(registry, "v1")
    sbom = registry.put_blob(REPO, b'{"spdxVersion": "SPDX-2.3"}')
    other_layer = {"mediaType": "text/plain", "size": sbom.size, "digest": str(sbom.digest)}
    registry.put_manifest(REPO, _sig_manifest(other_layer), OCI_MANIFEST, image.digest.signature_tag)
    for artifact_type, layers in [
        ("application/spdx+json", [other_layer]),
        (None, [other_layer, other_layer]),
    ]:
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "layers": layers,
            "subject": {"mediaType": OCI_MANIFEST, "digest": str(image.digest), "size": image.size},
        }
        if artifact_type:
            document["artifactType"] = artifact_type
        data = json.dumps(document).encode()
        digest = registry.put_manifest(REPO, data, OCI_MANIFEST)
        if not registry.referrers_api:
            index = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": str(digest),
                        "size": len(data),
                        **({"artifactType": artifact_type} if artifact_type else {}),
                    }
                ],
            }
            registry.put_manifest(REPO, json.dumps(index).encode(), OCI_MANIFEST, image.digest.tag_prefix)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok and verdict.rejected == ()
    assert registry.count("fetch_blob") == 0


async def test_two_of_three_keys_are_counted_as_distinct_signers() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    payload = build_payload("index.docker.io/securesystemsengineering/testimage", image.digest)
    for signer in (ALICE, BOB, CHARLIE):  # connaisseur: three layers sharing one payload blob
        sign_v2(registry, image.digest, signer, payload=payload)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key, CHARLIE.key, MALLORY.key))
    assert {v.key_fingerprint for v in verdict.verified} == {ALICE.key.fingerprint, CHARLIE.key.fingerprint}
    assert reasons(verdict) == [NOT_VERIFIED]  # bob's layer
    assert registry.count("fetch_blob") == 1  # the shared payload is fetched once


@pytest.mark.parametrize(
    "signer",
    [
        ecdsa("p256"),
        ecdsa("p384", "secp384r1"),
        ecdsa("p521", "secp521r1"),
        rsa_key("rsa-pkcs1"),
        rsa_key("rsa-pss", pss=True),
        ed("ed25519"),
    ],
    ids=lambda s: s.name,
)
async def test_every_supported_key_type_verifies_both_formats(signer: object) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v2(registry, image.digest, signer)  # type: ignore[arg-type]
    sign_v3(registry, image, signer)  # type: ignore[arg-type]
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key, signer.key))  # type: ignore[attr-defined]
    assert {v.format for v in verdict.verified} == {V2, V3} and verdict.rejected == ()
    other = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not other.ok and reasons(other) == [NOT_VERIFIED, NOT_VERIFIED]
