"""Trusted roots, certificate chains at a past moment, Fulcio identities and the signer protocol."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.errors import ConfigError, SignatureFormatError
from app.core.trust.builtin import PUBLIC_GOOD, public_good
from app.core.trust.certificates import authority_problem, chain_problem, code_signing_problem
from app.core.trust.identities import CertificateIdentity, IdentityMatcher, identity_of
from app.core.trust.keys import trusted_key_from
from app.core.trust.roots import TimeRange, parse_trusted_root
from app.core.trust.signers import IdentitySigner, KeySigner, SignerEvidence
from tests.support.sigstore.fulcio import ISSUER_V1, ISSUER_V2, CertificateAuthority, der_utf8
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore

UTC = datetime.UTC
WHEN = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
ASSETS = Path(__file__).parents[1] / "assets" / "sigstore-conformance" / "bundle-verify"


def root_document(sigstore: PrivateSigstore) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sigstore.trusted_root())
    return document


def test_the_built_in_public_good_root_has_rekor_v1_and_v2_fulcio_ct_and_a_tsa() -> None:
    root = public_good()
    assert root.name == PUBLIC_GOOD
    assert [log.base_url for log in root.tlogs] == [
        "https://rekor.sigstore.dev",
        "https://log2025-1.rekor.sigstore.dev",
    ]
    assert [log.key.algorithm for log in root.tlogs] == ["ecdsa-secp256r1", "ed25519"]
    assert len(root.certificate_authorities) == 2 and len(root.ctlogs) == 2
    assert root.timestamp_authorities[0].uri == "https://timestamp.sigstore.dev/api/v1/timestamp"


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "application/vnd.dev.sigstore.trustedroot.v0.2+json",
    ],
)
def test_both_media_type_spellings_are_read(sigstore: PrivateSigstore, media_type: str) -> None:
    document = root_document(sigstore) | {"mediaType": media_type}
    assert parse_trusted_root(json.dumps(document).encode(), "r").tlogs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(mediaType="application/json"), "unsupported mediaType"),
        (
            lambda d: d["tlogs"][0]["publicKey"]["validFor"].pop("start"),
            r"tlogs\[0\]\.publicKey\.validFor: has no start",
        ),
        (
            lambda d: d["tlogs"][0]["publicKey"].pop("validFor"),
            r"tlogs\[0\]\.publicKey\.validFor: is missing",
        ),
        (
            lambda d: d["ctlogs"][0]["publicKey"].update(rawBytes="AAAA"),
            r"ctlogs\[0\]\.publicKey: is not a supported",
        ),
        (
            lambda d: d["certificateAuthorities"][0]["certChain"].update(certificates=[]),
            "has no certificates",
        ),
        (lambda d: d["timestampAuthorities"][0]["validFor"].update(start="yesterday"), "not an RFC 3339"),
        (lambda d: d["tlogs"][1].update(hashAlgorithm="SHA2_384"), "only SHA2_256"),
        (
            lambda d: d["tlogs"][0]["publicKey"]["validFor"].update(end="2019-01-01T00:00:00Z"),
            "ends before it starts",
        ),
    ],
)
def test_a_malformed_root_is_refused_naming_the_field(
    sigstore: PrivateSigstore, change: Any, message: str
) -> None:
    document = root_document(sigstore)
    change(document)
    with pytest.raises(ConfigError, match=message):
        parse_trusted_root(json.dumps(document).encode(), "corp")


def test_validity_ranges_are_closed_and_an_absent_end_is_open() -> None:
    start, end = WHEN, WHEN + datetime.timedelta(days=1)
    closed = TimeRange(start, end)
    assert closed.contains(start) and closed.contains(end)
    assert not closed.contains(end + datetime.timedelta(microseconds=1))
    assert TimeRange(start).contains(datetime.datetime(9999, 1, 1, tzinfo=UTC))


def test_fractional_seconds_in_root_times_are_kept(sigstore: PrivateSigstore) -> None:
    document = root_document(sigstore)
    document["tlogs"][0]["publicKey"]["validFor"]["end"] = "2022-12-31T23:59:59.999Z"
    root = parse_trusted_root(json.dumps(document).encode(), "r")
    assert root.tlogs[0].valid_for.end == datetime.datetime(2022, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


def test_a_leaf_chains_only_while_every_certificate_is_valid(sigstore: PrivateSigstore) -> None:
    leaf = sigstore.keyless(when=WHEN).certificate
    assert leaf is not None
    assert chain_problem(leaf, sigstore.ca.chain, WHEN + datetime.timedelta(minutes=5)) is None
    assert "signing certificate was not valid" in (
        chain_problem(leaf, sigstore.ca.chain, WHEN + datetime.timedelta(hours=1)) or ""
    )
    assert "is not issued by" in (chain_problem(leaf, CertificateAuthority(name="other").chain, WHEN) or "")
    assert chain_problem(leaf, [sigstore.ca.root], WHEN) is not None  # skipping the intermediate


def test_only_authorities_valid_at_the_moment_are_used(sigstore: PrivateSigstore) -> None:
    leaf = sigstore.keyless(when=WHEN).certificate
    assert leaf is not None
    current = parse_trusted_root(sigstore.trusted_root(), "r").certificate_authorities
    ended_document = root_document(sigstore)
    ended_document["certificateAuthorities"][0]["validFor"]["end"] = "2024-01-01T00:00:00Z"
    ended = parse_trusted_root(json.dumps(ended_document).encode(), "r").certificate_authorities
    assert authority_problem(leaf, current, WHEN, "Fulcio CA")[0] is not None
    assert "no trusted Fulcio CA is valid" in authority_problem(leaf, ended, WHEN, "Fulcio CA")[1]


def test_a_leaf_that_is_not_for_code_signing_is_refused(sigstore: PrivateSigstore) -> None:
    assert code_signing_problem(sigstore.ca.intermediate) is not None


def _leaf(
    extensions: list[x509.ExtensionType], key: ec.EllipticCurvePrivateKey | None = None
) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(WHEN)
        .not_valid_after(WHEN)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256())


def test_the_identity_is_the_first_uri_then_email_then_username_and_the_issuer_extension() -> None:
    issuer = x509.UnrecognizedExtension(ISSUER_V2, der_utf8(GITHUB))
    uri = x509.SubjectAlternativeName(
        [x509.RFC822Name("a@b.example"), x509.UniformResourceIdentifier(WORKFLOW)]
    )
    assert identity_of(_leaf([uri, issuer])) == CertificateIdentity(WORKFLOW, GITHUB)
    username = x509.SubjectAlternativeName(
        [x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7"), der_utf8("alice"))]
    )
    assert identity_of(_leaf([username, issuer])).subject == "alice"
    legacy_only = x509.UnrecognizedExtension(ISSUER_V1, b"https://accounts.google.com")
    assert identity_of(_leaf([uri, legacy_only])).issuer == "https://accounts.google.com"


def test_a_certificate_with_two_different_issuers_or_none_names_no_identity() -> None:
    uri = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(WORKFLOW)])
    both = [
        x509.UnrecognizedExtension(ISSUER_V1, b"https://evil.example"),
        x509.UnrecognizedExtension(ISSUER_V2, der_utf8(GITHUB)),
    ]
    with pytest.raises(SignatureFormatError, match="two different OIDC issuers"):
        identity_of(_leaf([uri, *both]))
    with pytest.raises(SignatureFormatError, match="names no OIDC issuer"):
        identity_of(_leaf([uri]))
    with pytest.raises(SignatureFormatError, match="OIDC issuer extension: DER value is truncated"):
        identity_of(_leaf([uri, x509.UnrecognizedExtension(ISSUER_V2, GITHUB.encode())]))


def test_identity_patterns_are_exact_or_a_whole_value_regular_expression() -> None:
    exact = IdentityMatcher.build(subject=WORKFLOW, issuer=GITHUB)
    assert exact.matches(CertificateIdentity(WORKFLOW, GITHUB))
    assert not exact.matches(CertificateIdentity(WORKFLOW + "x", GITHUB))
    pattern = IdentityMatcher.build(
        subject_regexp=r"https://github\.com/acme/[^/]+/.*", issuer_regexp=r"https://token\..*"
    )
    assert pattern.matches(CertificateIdentity(WORKFLOW, GITHUB))
    assert not pattern.matches(CertificateIdentity("x" + WORKFLOW, GITHUB))
    with pytest.raises(ConfigError, match="exactly one"):
        IdentityMatcher.build(subject=WORKFLOW, subject_regexp=".*", issuer=GITHUB)
    with pytest.raises(ConfigError, match="exactly one"):
        IdentityMatcher.build(subject=WORKFLOW)
    with pytest.raises(ConfigError, match="invalid regular expression"):
        IdentityMatcher.build(subject_regexp="(", issuer=GITHUB)


def test_signers_recognise_only_their_own_evidence_and_have_distinct_trust_ids() -> None:
    key = trusted_key_from(ec.generate_private_key(ec.SECP256R1()).public_key(), "k")
    other = trusted_key_from(ec.generate_private_key(ec.SECP256R1()).public_key(), "k2")
    by_key, by_identity = (
        KeySigner(key),
        IdentitySigner(IdentityMatcher.build(subject=WORKFLOW, issuer=GITHUB)),
    )
    assert by_key.recognises(SignerEvidence(key=key)) and not by_key.recognises(SignerEvidence(key=other))
    assert by_identity.recognises(SignerEvidence(identity=CertificateIdentity(WORKFLOW, GITHUB)))
    assert not by_identity.recognises(SignerEvidence(key=key))
    regexp = IdentitySigner(IdentityMatcher.build(subject_regexp=WORKFLOW, issuer=GITHUB))
    assert len({by_key.trust_id, by_identity.trust_id, regexp.trust_id}) == 3
