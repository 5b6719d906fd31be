"""Keyless and transparency-log verification of bundles from a private Sigstore instance (pure core).

The instance (`tests/support/sigstore`) writes certificates with embedded SCTs, Rekor v1 entries with
SETs, inclusion proofs and checkpoints, Rekor v2 entries, and openssl-made RFC 3161 tokens. Each test
tampers with one thing and checks that verification fails at the step that should catch it.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.digests import Digest
from app.core.errors import NotVerified
from app.core.trust.identities import IdentityMatcher
from app.core.trust.keys import trusted_key_from
from app.core.trust.roots import TrustedRoot, parse_trusted_root
from app.core.trust.signers import IdentitySigner, KeySigner, TrustedSigner
from app.core.verification.artifacts import verify_bundle_for_artifact
from app.core.verification.entity_checks import EntityVerdict, Requirements
from tests.support.sigstore.fulcio import CertificateAuthority, CtLog
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, encode
from tests.support.sigstore.logs import RekorV1Log

UTC = datetime.UTC
ARTIFACT = b"release tarball\n"
DEFAULT = Requirements()
TRUSTED = IdentitySigner(IdentityMatcher.build(subject=WORKFLOW, issuer=GITHUB))


@pytest.fixture(scope="module")
def root(sigstore: PrivateSigstore) -> TrustedRoot:
    return parse_trusted_root(sigstore.trusted_root(), "private")


def verify(
    bundle: dict[str, Any],
    root: TrustedRoot,
    signers: Sequence[TrustedSigner] = (TRUSTED,),
    artifact: bytes = ARTIFACT,
    requirements: Requirements = DEFAULT,
    now: datetime.datetime | None = None,
) -> EntityVerdict:
    return verify_bundle_for_artifact(
        encode(bundle),
        Digest.of(artifact),
        artifact,
        root,
        signers,
        requirements,
        now or datetime.datetime.now(UTC),
    )


def refused(step: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(NotVerified) as caught:
        verify(*args, **kwargs)
    assert caught.value.step == step, caught.value.reason
    return caught.value.reason


def test_keyless_bundle_logged_in_rekor_v1_verifies_with_its_log_entry_and_identity(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    verdict = verify(sigstore.sign_blob(ARTIFACT, sigstore.keyless()), root)
    assert verdict.signers == (TRUSTED,)
    assert verdict.identity is not None and verdict.identity.subject == WORKFLOW
    assert verdict.identity.issuer == GITHUB
    (entry,) = verdict.log_entries
    assert entry.log_url == sigstore.rekor.url and entry.log_index >= sigstore.rekor.shard_offset
    assert entry.integrated_time is not None


def test_keyless_dsse_statement_logged_as_dsse_verifies_for_its_subject(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    bundle = sigstore.sign_statement(str(Digest.of(ARTIFACT)), sigstore.keyless())
    assert verify(bundle, root).identity is not None
    assert "no subject" in refused("material", bundle, root, artifact=b"another artifact")


def test_keyless_bundle_in_rekor_v2_needs_a_timestamp_for_its_time(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    signing = sigstore.keyless()
    verdict = verify(sigstore.sign_blob(ARTIFACT, signing, log="v2", tsa=True), root)
    assert verdict.log_entries[0].integrated_time is None
    assert [t.source for t in verdict.times] == [f"timestamp {sigstore.tsa.url}"]
    reason = refused("timestamp", sigstore.sign_blob(ARTIFACT, signing, log="v2"), root)
    assert "no verified transparency log entry or RFC 3161 timestamp" in reason


def test_dsse_statement_in_rekor_v2_is_logged_over_its_pae(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    bundle = sigstore.sign_statement(str(Digest.of(ARTIFACT)), sigstore.keyless(), log="v2", tsa=True)
    assert verify(bundle, root).log_entries


@pytest.mark.parametrize(
    ("subject", "issuer"),
    [(WORKFLOW.replace("acme", "evil"), GITHUB), (WORKFLOW, "https://accounts.google.com")],
    ids=["other subject", "other issuer"],
)
def test_another_identity_or_issuer_is_not_trusted(
    sigstore: PrivateSigstore, root: TrustedRoot, subject: str, issuer: str
) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless(subject=subject, issuer=issuer))
    assert "which the policy does not trust" in refused("identity", bundle, root)


def test_identity_patterns_must_match_the_whole_value(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless(subject=f"https://evil.example/?{WORKFLOW}"))
    prefix = IdentitySigner(
        IdentityMatcher.build(subject_regexp=r"https://github\.com/acme/.*", issuer=GITHUB)
    )
    refused("identity", bundle, root, signers=[prefix])
    good = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    assert verify(good, root, signers=[prefix]).signers == (prefix,)


def test_email_identities_verify(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(
        ARTIFACT,
        sigstore.keyless(subject="dev@acme.example", issuer="https://accounts.google.com", email=True),
    )
    signer = IdentitySigner(
        IdentityMatcher.build(subject="dev@acme.example", issuer="https://accounts.google.com")
    )
    assert verify(bundle, root, signers=[signer]).signers == (signer,)


def test_a_certificate_from_an_untrusted_ca_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless(ca=CertificateAuthority(name="rogue")))
    assert "does not chain to a trusted Fulcio CA" in refused("certificate", bundle, root)


def test_a_certificate_expired_at_the_integrated_time_is_refused(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    issued = datetime.datetime.now(UTC) - datetime.timedelta(hours=2)
    late = int((issued + datetime.timedelta(minutes=30)).timestamp())  # the leaf lives 10 minutes
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless(when=issued), integrated_time=late)
    assert "signing certificate was not valid at" in refused("certificate", bundle, root)


def test_a_missing_or_foreign_sct_is_refused_unless_the_policy_waives_it(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    missing = sigstore.sign_blob(ARTIFACT, sigstore.keyless(ct=False))
    assert "no embedded SCT" in refused("sct", missing, root)
    foreign = sigstore.sign_blob(ARTIFACT, sigstore.keyless(ct=CtLog(url="https://ct.other.test")))
    assert "not trusted at its time" in refused("sct", foreign, root)
    assert verify(foreign, root, requirements=Requirements(sct=False)).signers == (TRUSTED,)


def test_a_forged_set_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    forger = ec.generate_private_key(ec.SECP256R1())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    entry["inclusionPromise"]["signedEntryTimestamp"] = base64.b64encode(
        forger.sign(b"x", ec.ECDSA(_sha256()))
    ).decode()
    assert "signed entry timestamp (SET) does not verify" in refused("tlog", bundle, root)


def test_a_log_entry_about_another_artifact_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    signing = sigstore.keyless()
    good = sigstore.sign_blob(ARTIFACT, signing)
    other = sigstore.sign_blob(b"another artifact", signing)
    good["verificationMaterial"]["tlogEntries"] = other["verificationMaterial"]["tlogEntries"]
    assert "entry records another" in refused("tlog", good, root)


def test_an_inclusion_proof_with_a_wrong_root_is_refused(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    wrong = bytes(32)
    proof["rootHash"] = base64.b64encode(wrong).decode()
    proof["checkpoint"]["envelope"] = sigstore.rekor.checkpoint(
        int(proof["treeSize"]), wrong
    )  # signed, but wrong
    assert "inclusion proof does not lead to the tree's root hash" in refused("tlog", bundle, root)


def test_a_checkpoint_for_another_tree_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    stale = sigstore.sign_blob(b"later", sigstore.keyless())  # the tree grew: another size and root
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["checkpoint"] = stale["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    assert "checkpoint is for another tree" in refused("tlog", bundle, root)


def test_a_log_the_root_does_not_list_proves_nothing(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    other = PrivateSigstore(
        sigstore.directory / "other",
        ca=sigstore.ca,
        ct=sigstore.ct,
        rekor=RekorV1Log(host="rekor.other.test"),
    )
    bundle = other.sign_blob(ARTIFACT, sigstore.keyless())
    assert "no verified transparency log entry" in refused("tlog", bundle, root)


def test_an_integrated_time_in_the_future_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    future = datetime.datetime.now(UTC) + datetime.timedelta(days=1)
    bundle = sigstore.sign_blob(
        ARTIFACT, sigstore.keyless(when=future), integrated_time=int(future.timestamp()) + 60
    )
    assert "is in the future" in refused("tlog", bundle, root)


def test_an_integrated_time_outside_the_logs_validity_is_refused(sigstore: PrivateSigstore) -> None:
    ended = parse_trusted_root(sigstore.trusted_root(log_end="2021-01-01T00:00:00Z"), "ended")
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    assert "was not trusted at the integrated time" in refused("tlog", bundle, ended)


def test_the_same_log_entry_twice_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    entries = bundle["verificationMaterial"]["tlogEntries"]
    entries.append(json.loads(json.dumps(entries[0])))
    assert "twice" in refused("tlog", bundle, root)


def test_key_signed_bundles_need_a_log_entry_unless_the_policy_ignores_the_log(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    signing = sigstore.with_key()
    key = KeySigner(trusted_key_from(signing.key.public_key(), "release.pub"))
    logged = verify(sigstore.sign_blob(ARTIFACT, signing), root, signers=[key])
    assert logged.signers == (key,) and logged.identity is None and logged.log_entries
    unlogged = sigstore.sign_blob(ARTIFACT, signing, log=None)
    assert "no verified transparency log entry" in refused("tlog", unlogged, root, signers=[key])
    ignoring = Requirements(transparency_log=False)
    assert verify(unlogged, root, signers=[key], requirements=ignoring).log_entries == ()
    rekor2 = verify(sigstore.sign_blob(ARTIFACT, signing, log="v2"), root, signers=[key])
    assert rekor2.log_entries[0].log_url == sigstore.rekor2.url


def test_a_keyless_signature_is_not_trusted_by_a_key_policy(
    sigstore: PrivateSigstore, root: TrustedRoot
) -> None:
    other = KeySigner(trusted_key_from(ec.generate_private_key(ec.SECP256R1()).public_key(), "other.pub"))
    reason = refused("key", sigstore.sign_blob(ARTIFACT, sigstore.keyless()), root, signers=[other])
    assert reason == "signature does not verify with any trusted key"


def test_a_tampered_timestamp_is_refused(sigstore: PrivateSigstore, root: TrustedRoot) -> None:
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless(), log="v2", tsa=True)
    stamps = bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    token = bytearray(base64.b64decode(stamps[0]["signedTimestamp"]))
    token[-5] ^= 0x01  # inside the signature value at the end of the SignerInfo
    stamps[0]["signedTimestamp"] = base64.b64encode(bytes(token)).decode()
    assert "RFC 3161 timestamp" in refused("timestamp", bundle, root)


def test_keyless_verification_uses_the_trusted_root_it_is_given(
    sigstore: PrivateSigstore, tmp_path: Path
) -> None:
    stranger = PrivateSigstore(tmp_path)
    bundle = sigstore.sign_blob(ARTIFACT, sigstore.keyless())
    refused("tlog", bundle, parse_trusted_root(stranger.trusted_root(), "stranger"))


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()
