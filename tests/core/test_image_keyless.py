"""Image verification with keyless identities and transparency-log entries, in both cosign layouts.

Images live in the in-memory registry; their signatures are written by the private Sigstore instance
(`tests/support/sigstore`) as cosign writes them: v2 `.sig` layers with the certificate, chain, Rekor
bundle and timestamp annotations, v3 bundles with their log entries. The real `Verifier` checks them
against the instance's trusted root; the decision tests run the real `decide` over it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from app.core.admission.audit import audit_line, audit_record
from app.core.admission.decision import decide
from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import AdmissionPolicy, Policy, TrustedIdentity
from app.core.admission.review import parse_review
from app.core.errors import SignatureFormatError
from app.core.formats.simplesigning import build_payload
from app.core.ports import Descriptor
from app.core.trust.identities import CertificateIdentity, IdentityMatcher
from app.core.trust.keys import TrustedKey, trusted_key_from
from app.core.trust.roots import TrustedRoot, parse_trusted_root
from app.core.trust.secretkeys import KeySnapshot
from app.core.trust.signers import IdentitySigner, KeySigner, TrustedSigner
from app.core.verification.entity_checks import Requirements
from app.core.verification.layer_entities import rekor_bundle_entry
from app.core.verification.trust_groups import NO_LOG, Trust
from app.core.verification.verdicts import ImageVerdict, SignatureFormat
from app.core.verification.verifier import Verifier
from app.webhook.metrics import reason_class
from tests.core.signers import REPO, attach_bundle, by_tag, push_image, put_sig_layer
from tests.fakes import DictCache, InMemoryRegistry
from tests.support.auditschema import checked_audit_line
from tests.support.sigstore.fulcio import CertificateAuthority
from tests.support.sigstore.images import CERTIFICATE, REKOR_BUNDLE, v2_signature, v3_bundle
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, Signing
from tests.webhook.reviews import review

V2, V3 = SignatureFormat.COSIGN_V2_SIG_TAG, SignatureFormat.COSIGN_V3_BUNDLE
IDENTITY = IdentitySigner(IdentityMatcher.build(subject=WORKFLOW, issuer=GITHUB))
STRANGER = IdentitySigner(
    IdentityMatcher.build(subject_regexp=r"https://github\.com/other/.*", issuer=GITHUB)
)
REQUIRED = Requirements()


@pytest.fixture(scope="module")
def root(sigstore: PrivateSigstore) -> TrustedRoot:
    return parse_trusted_root(sigstore.trusted_root(), "private")


def key_of(signing: Signing) -> TrustedKey:
    return trusted_key_from(signing.key.public_key(), "ci-key")


def trusting(root: TrustedRoot, *signers: TrustedSigner, requirements: Requirements = REQUIRED) -> Trust:
    return Trust.of((signer, root, requirements) for signer in signers)


def put_v2(
    registry: InMemoryRegistry, image: Descriptor, sigstore: PrivateSigstore, signing: Signing, **options: Any
) -> dict[str, str]:
    """A v2 layer for `image` as cosign writes it; returns its annotations."""
    payload = build_payload(str(REPO), image.digest)
    signature, annotations = v2_signature(sigstore, signing, payload, **options)
    put_sig_layer(registry, image.digest.signature_tag, payload, signature, annotations)
    return annotations


def put_signature(
    registry: InMemoryRegistry,
    image: Descriptor,
    layout: str,
    sigstore: PrivateSigstore,
    signing: Signing,
    **options: Any,
) -> None:
    """A signature for `image` in `layout`: a v2 layer (`put_v2`) or a v3 bundle referrer (`v3_bundle`
    takes the `options`)."""
    if layout == "v2":
        put_v2(registry, image, sigstore, signing, **options)
    else:
        attach_bundle(registry, image, v3_bundle(sigstore, image.digest, signing, **options))


def put_layer_annotations(registry: InMemoryRegistry, image: Descriptor, changes: dict[str, str]) -> None:
    """Change annotations of the first `.sig` layer (what someone with push access could do)."""
    tag = image.digest.signature_tag
    manifest = json.loads(registry.get_manifest(REPO, tag) or b"{}")
    manifest["layers"][0]["annotations"].update(changes)
    registry.put_manifest(REPO, json.dumps(manifest).encode(), manifest["mediaType"], tag)


async def verify(registry: InMemoryRegistry, trust: Trust) -> ImageVerdict:
    return await Verifier(registry).verify(by_tag("v1"), trust)


def rejected(verdict: ImageVerdict) -> list[tuple[str | None, str]]:
    return [(r.step, r.reason) for r in verdict.rejected]


# --- keyless, both layouts --------------------------------------------------------------------------


async def test_a_keyless_v2_signature_verifies_with_its_certificate_log_entry_and_identity(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    signing = sigstore.keyless()
    put_v2(registry, image, sigstore, signing)
    verdict = await verify(registry, trusting(root, IDENTITY))
    (signature,) = verdict.verified
    assert signature.format is V2 and signature.signer == IDENTITY.trust_id
    assert signature.identity == CertificateIdentity(WORKFLOW, GITHUB)
    assert signature.key_fingerprint == trusted_key_from(signing.key.public_key(), "leaf").fingerprint
    (entry,) = signature.log_entries
    assert entry.log_url == sigstore.rekor.url and entry.log_id == sigstore.rekor.log_id.hex()
    assert entry.log_index == sigstore.rekor.shard_offset + len(sigstore.rekor.entries) - 1
    assert entry.integrated_time is not None and verdict.rejected == ()


@pytest.mark.parametrize(("log", "tsa"), [("v1", False), ("v2", True), (None, True)])
async def test_a_keyless_v3_bundle_verifies_logged_in_rekor_v1_or_v2_or_only_timestamped(
    sigstore: PrivateSigstore, root: TrustedRoot, log: str | None, tsa: bool
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    attach_bundle(registry, image, v3_bundle(sigstore, image.digest, sigstore.keyless(), log=log, tsa=tsa))
    requirements = REQUIRED if log else NO_LOG
    (signature,) = (await verify(registry, trusting(root, IDENTITY, requirements=requirements))).verified
    assert signature.format is V3 and signature.identity == CertificateIdentity(WORKFLOW, GITHUB)
    assert len(signature.log_entries) == (1 if log else 0)
    assert any(t.source.startswith("timestamp") for t in signature.times) is tsa


async def test_a_keyless_image_costs_the_registry_calls_and_round_trips_of_a_key_signed_one(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    """Chains, SCTs, SETs, proofs and timestamps are checked from what the signatures carry: the same
    reads of the same sequence, whoever signed (bench/keyless_bench.py counts it over HTTP)."""
    costs = []
    for signing, signer in ((sigstore.with_key(), None), (sigstore.keyless(), IDENTITY)):
        registry = InMemoryRegistry()
        image = push_image(registry, "v1")
        put_v2(registry, image, sigstore, signing)
        attach_bundle(registry, image, v3_bundle(sigstore, image.digest, signing, tsa=True))
        verdict = await verify(registry, trusting(root, signer or KeySigner(key_of(signing))))
        assert len(verdict.verified) == 2 and all(v.log_entries for v in verdict.verified)
        costs.append(([name for name, _ in registry.calls], registry.rounds))
    key_cost, keyless_cost = costs
    assert sorted(keyless_cost[0]) == sorted(key_cost[0]) and keyless_cost[1] == key_cost[1]


async def test_a_keyless_signature_without_a_log_entry_or_timestamp_is_refused_even_when_the_log_is_waived(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, sigstore.keyless(), log=False)
    verdict = await verify(registry, trusting(root, IDENTITY, requirements=NO_LOG))
    assert not verdict.ok and rejected(verdict)[0][0] == "timestamp"


@pytest.mark.parametrize("layout", ["v2", "v3"])
async def test_another_identity_is_refused_at_the_identity_step(
    sigstore: PrivateSigstore, root: TrustedRoot, layout: str
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_signature(registry, image, layout, sigstore, sigstore.keyless())
    verdict = await verify(registry, trusting(root, STRANGER))
    assert rejected(verdict) == [
        ("identity", f"signed by {WORKFLOW} (issuer {GITHUB}), which the policy does not trust")
    ]


async def test_a_certificate_from_a_ca_the_root_does_not_list_is_refused(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, sigstore.keyless(ca=CertificateAuthority(name="rogue")))
    (step, reason), *_ = rejected(await verify(registry, trusting(root, IDENTITY)))
    assert step == "certificate" and "Fulcio CA" in reason


async def test_the_chain_annotation_adds_no_trust_a_rogue_ca_shipped_beside_the_signature_is_ignored(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    rogue = CertificateAuthority(name="rogue")
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, sigstore.keyless(ca=rogue))
    chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in rogue.chain)
    put_layer_annotations(registry, image, {"dev.sigstore.cosign/chain": chain})
    assert rejected(await verify(registry, trusting(root, IDENTITY)))[0][0] == "certificate"


async def test_a_certificate_annotation_that_is_not_pem_is_a_rejection_not_a_crash(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, sigstore.keyless())
    put_layer_annotations(registry, image, {CERTIFICATE: "-----BEGIN CERTIFICATE-----\nnope"})
    assert rejected(await verify(registry, trusting(root, IDENTITY))) == [
        (None, f"garbage: {CERTIFICATE} annotation is not a PEM certificate")
    ]


# --- the Rekor bundle annotation ----------------------------------------------------------------------


def _annotation(annotations: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(annotations[REKOR_BUNDLE])
    return document


async def test_a_forged_set_in_the_rekor_annotation_is_refused_at_the_tlog_step(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    annotations = put_v2(registry, image, sigstore, sigstore.keyless())
    bundle = _annotation(annotations)
    bundle["Payload"]["integratedTime"] -= 1
    put_layer_annotations(registry, image, {REKOR_BUNDLE: json.dumps(bundle)})
    (step, reason), *_ = rejected(await verify(registry, trusting(root, IDENTITY)))
    assert step == "tlog" and "signed entry timestamp (SET) does not verify" in reason


async def test_a_rekor_annotation_about_another_signature_is_refused(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image, other = push_image(registry, "v1"), push_image(registry, "v2", "other")
    signing = sigstore.keyless()
    put_v2(registry, image, sigstore, signing)
    elsewhere = put_v2(registry, other, sigstore, signing)  # a valid entry, for the other image's payload
    put_layer_annotations(registry, image, {REKOR_BUNDLE: elsewhere[REKOR_BUNDLE]})
    (step, reason), *_ = rejected(await verify(registry, trusting(root, IDENTITY)))
    assert step == "tlog" and "records another signature" in reason


async def test_a_rekor_annotation_that_is_not_base64_is_a_rejection_not_a_crash(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    annotations = put_v2(registry, image, sigstore, sigstore.keyless())
    bundle = _annotation(annotations)
    body = bundle["Payload"]["body"]
    bundle["Payload"]["body"] = body[:8] + "\n" + body[8:]
    put_layer_annotations(registry, image, {REKOR_BUNDLE: json.dumps(bundle)})
    assert rejected(await verify(registry, trusting(root, IDENTITY))) == [
        (None, "garbage: Rekor bundle annotation body is not base64")
    ]


@pytest.mark.parametrize(
    ("member", "spelling"), [("body", "QR=="), ("body", "QQ"), ("SignedEntryTimestamp", "Q-8=")]
)
def test_a_rekor_annotation_spelling_bytes_another_way_than_standard_base64_is_refused(
    member: str, spelling: str
) -> None:
    # The SET signs the body's base64 text, rebuilt from the bytes: "QR==" decodes to the bytes of
    # "QQ==", so it would reach the check as if it were the same entry.
    def annotation(body: str = "QQ==", set_text: str = "AAAA") -> str:
        payload = {"body": body, "integratedTime": 1, "logIndex": 2, "logID": "ab" * 32}
        return json.dumps({"SignedEntryTimestamp": set_text, "Payload": payload})

    assert rekor_bundle_entry(annotation()).body == b"A"
    spelled = annotation(body=spelling) if member == "body" else annotation(set_text=spelling)
    with pytest.raises(SignatureFormatError, match=r"is not (canonical )?base64"):
        rekor_bundle_entry(spelled)


# --- keys, with and without a log entry ---------------------------------------------------------------


@pytest.mark.parametrize("layout", ["v2", "v3"])
async def test_a_key_signature_logged_in_rekor_verifies_when_a_log_entry_is_required(
    sigstore: PrivateSigstore, root: TrustedRoot, layout: str
) -> None:
    signing = sigstore.with_key()
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_signature(registry, image, layout, sigstore, signing)
    (signature,) = (await verify(registry, trusting(root, KeySigner(key_of(signing))))).verified
    assert signature.key_fingerprint == key_of(signing).fingerprint and signature.identity is None
    assert [e.log_url for e in signature.log_entries] == [sigstore.rekor.url]


@pytest.mark.parametrize("layout", ["v2", "v3"])
async def test_a_key_signature_without_a_log_entry_is_refused_when_required_and_verifies_when_ignored(
    sigstore: PrivateSigstore, root: TrustedRoot, layout: str
) -> None:
    signing = sigstore.with_key()
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_signature(registry, image, layout, sigstore, signing, log=False if layout == "v2" else None)
    key = KeySigner(key_of(signing))
    assert rejected(await verify(registry, trusting(root, key))) == [
        ("tlog", "no verified transparency log entry (the signature is not logged in a trusted log)")
    ]
    assert (await verify(registry, trusting(root, key, requirements=NO_LOG))).ok


async def test_a_cached_verdict_under_a_waived_log_is_not_reused_when_the_log_is_required(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    signing = sigstore.with_key()
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, signing, log=False)
    cache = DictCache()
    verifier = Verifier(registry, cache)
    key = KeySigner(key_of(signing))
    assert (await verifier.verify(by_tag("v1"), trusting(root, key, requirements=NO_LOG))).ok
    assert not (await verifier.verify(by_tag("v1"), trusting(root, key))).ok
    assert len(cache.entries) == 2


# --- policies: groups, thresholds, audit, metrics ----------------------------------------------------


def _policy(name: str, root: TrustedRoot, **fields: Any) -> Policy:
    return Policy(name, (ImagePattern("registry.test/team/**"),), key_root=root, **fields)


async def _decide(registry: InMemoryRegistry, *policies: Policy) -> Any:
    body = review([("app", "registry.test/team/app:v1")])
    return await decide(parse_review(body), AdmissionPolicy(policies), KeySnapshot(), Verifier(registry))


async def test_two_policies_differing_only_in_the_log_requirement_judge_one_read_of_the_signatures(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    signing = sigstore.with_key()
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, signing, log=False)
    key = key_of(signing)
    lenient = _policy("lenient", root, static_keys=(key,), requirements=NO_LOG)
    strict = _policy("strict", root, static_keys=(key,))
    alone = await _decide(registry, lenient)
    assert alone.allowed
    reads = registry.count("fetch_manifest", "fetch_blob")
    both = await _decide(registry, lenient, strict)
    assert not both.allowed and registry.count("fetch_manifest", "fetch_blob") == 2 * reads
    assert both.message.endswith(
        'no signature verified by the keys of policy "strict" (1 signature(s) found: '
        "no verified transparency log entry (the signature is not logged in a trusted log))"
    )


async def test_a_key_and_an_identity_count_once_each_toward_the_threshold(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    signing = sigstore.with_key()
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, sigstore.keyless())
    put_v2(registry, image, sigstore, sigstore.keyless())  # the same identity again: still one signer
    quorum = _policy(
        "quorum",
        root,
        static_keys=(key_of(signing),),
        identities=(TrustedIdentity(IDENTITY, root),),
        threshold=2,
    )
    short = await _decide(registry, quorum)
    assert not short.allowed and short.message.endswith(
        '1 of the 2 distinct keys or keyless identities policy "quorum" requires signed'
    )
    attach_bundle(registry, image, v3_bundle(sigstore, image.digest, signing))
    decided = await _decide(registry, quorum)
    assert decided.allowed, decided.message
    (outcome,) = decided.images
    assert {s.signer for s in outcome.signatures} == {IDENTITY.trust_id, f"key:{key_of(signing).fingerprint}"}


async def test_the_audit_record_names_the_log_entry_of_each_counted_signature_and_the_keyless_identity(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    signing = sigstore.keyless()
    put_v2(registry, image, sigstore, signing)
    policy = _policy("ci", root, identities=(TrustedIdentity(IDENTITY, root),))
    body = review([("app", "registry.test/team/app:v1")])
    request = parse_review(body)
    decision = await decide(request, AdmissionPolicy((policy,)), KeySnapshot(), Verifier(registry))
    record = checked_audit_line(audit_line(audit_record(request, decision, datetime.now(UTC), 1.0)))
    (signature,) = record["images"][0]["signatures"]
    entry = sigstore.rekor.entries[-1]
    assert signature == {
        "format": "cosign-v2-sig-tag",
        "key_fingerprint": key_of(signing).fingerprint,
        "key": IDENTITY.label,
        "identity": WORKFLOW,
        "issuer": GITHUB,
        "tlog": [
            {
                "log_id": sigstore.rekor.log_id.hex(),
                "log_index": sigstore.rekor.shard_offset + entry.index,
                "integrated_time": datetime.fromtimestamp(entry.integrated_time, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
            }
        ],
        "timestamps": [],
    }


@pytest.mark.parametrize(("signers", "label"), [((STRANGER,), "identity"), ((), "tlog")])
async def test_an_image_refused_for_its_identity_or_log_gets_a_bounded_metric_label(
    sigstore: PrivateSigstore, root: TrustedRoot, signers: tuple[IdentitySigner, ...], label: str
) -> None:
    signing = sigstore.with_key()
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    put_v2(registry, image, sigstore, sigstore.keyless())
    put_v2(registry, image, sigstore, signing, log=False)
    policy = _policy(
        "p",
        root,
        static_keys=() if signers else (key_of(signing),),
        identities=tuple(TrustedIdentity(s, root) for s in signers),
    )
    decision = await _decide(registry, policy)
    (outcome,) = decision.images
    assert not decision.allowed and outcome.step == label and reason_class(outcome) == label
