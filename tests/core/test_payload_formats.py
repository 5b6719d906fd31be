"""Unit tests of the signed-content formats: simple-signing payloads, DSSE/in-toto, sigstore bundles."""

from __future__ import annotations

import base64
import json

import pytest

from app.core.digests import Digest
from app.core.errors import SignatureFormatError
from app.core.formats.bundles import MessageSignature, build_bundle, bundle_version, parse_bundle
from app.core.formats.dsse import (
    COSIGN_SIGN_PREDICATE,
    Envelope,
    build_statement,
    decode_base64,
    pae,
    parse_envelope,
    parse_statement,
)
from app.core.formats.simplesigning import annotations_problem, build_payload, parse_payload

DIGEST = Digest.of(b"image manifest")
OTHER = Digest.of(b"another manifest")


# --- simple signing -------------------------------------------------------------------------------


def test_cosign_payload_is_compact_json_in_cosign_key_order() -> None:
    assert build_payload("registry:5000/repo", DIGEST) == (
        b'{"critical":{"identity":{"docker-reference":"registry:5000/repo"},"image":{"docker-manifest-digest":"'
        + str(DIGEST).encode()
        + b'"},"type":"cosign container image signature"},"optional":null}'
    )


def test_payload_annotations_go_into_optional_and_can_be_required() -> None:
    payload = parse_payload(build_payload("r/repo", DIGEST, {"env": "prod"}))
    assert payload.optional == {"env": "prod"} and payload.docker_reference == "r/repo"
    assert annotations_problem(payload, {"env": "prod"}) is None
    assert annotations_problem(payload, {"env": "dev"}) == "payload annotation 'env' is not 'dev'"
    assert annotations_problem(parse_payload(build_payload("r", DIGEST)), {"env": "prod"}) is not None


def test_payload_claims_only_the_exact_digest_string() -> None:
    payload = parse_payload(build_payload("r/repo", DIGEST))
    assert payload.claims_problem(DIGEST) is None
    assert payload.claims_problem(OTHER) == f"payload claims digest {DIGEST} but the image is {OTHER}"
    upper = parse_payload(
        build_payload("r/repo", DIGEST).replace(DIGEST.hex.encode(), DIGEST.hex.upper().encode())
    )
    assert upper.claims_problem(DIGEST) is not None  # cosign compares strings exactly


def test_a_claimed_digest_that_could_forge_a_log_line_is_quoted() -> None:
    forged = build_payload("r", DIGEST).replace(str(DIGEST).encode(), b"sha256:ab\\nINFO admitted")
    problem = parse_payload(forged).claims_problem(DIGEST)
    assert problem is not None and "\n" not in problem and "'sha256:ab\\nINFO admitted'" in problem


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff", "payload is not JSON"),
        (b"[]", "payload is not a JSON object"),
        (b"{}", "payload field critical is missing or not an object"),
        (b'{"critical":{"identity":{}}}', "payload field critical.image is missing or not an object"),
        (
            b'{"critical":{"identity":{},"image":{"docker-manifest-digest":"x"},"type":"t"}}',
            "payload field critical.identity.docker-reference is missing or not a string",
        ),
        (
            b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":1},"type":"t"}}',
            "payload field critical.image.docker-manifest-digest is missing or not a string",
        ),
        (
            b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"d"},"type":"t"},'
            b'"optional":"x"}',
            "payload field optional is neither null nor an object",
        ),
    ],
)
def test_malformed_payloads_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(SignatureFormatError) as raised:
        parse_payload(data)
    assert raised.value.reason == reason


# --- DSSE and in-toto -------------------------------------------------------------------------------


def test_pae_matches_the_dsse_specification_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"  # lengths count bytes


@pytest.mark.parametrize("text", ["+/8=", "+/8", "-_8=", "-_8", "+/\n8=\r\n"])
def test_base64_may_be_standard_or_url_safe_padded_or_not(text: str) -> None:
    assert decode_base64(text, "x") == b"\xfb\xff"


@pytest.mark.parametrize("text", ["a", "***", None, 3, "é"])
def test_invalid_base64_is_a_format_error(text: object) -> None:
    with pytest.raises(SignatureFormatError):
        decode_base64(text, "x")


def test_envelope_round_trips_through_json() -> None:
    envelope = Envelope("application/vnd.in-toto+json", b"{}", b"sig", keyid="k1")
    assert parse_envelope(envelope.to_json()) == envelope
    assert envelope.signed_bytes() == b"DSSEv1 28 application/vnd.in-toto+json 2 {}"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "DSSE envelope is not a JSON object"),
        ({"payload": "e30="}, "DSSE envelope has no payloadType"),
        (
            {"payloadType": "t", "payload": "e30=", "signatures": [{"sig": "AA=="}] * 2},
            "DSSE envelope has 2 signatures; exactly one is required",
        ),
        ({"payloadType": "t", "payload": "e30="}, "DSSE envelope has no signatures; exactly one is required"),
        ({"payloadType": "t", "payload": "e30=", "signatures": [{"sig": ""}]}, "DSSE signature is empty"),
        (
            {"payloadType": "t", "payload": "e30=", "signatures": [{"sig": "AA==", "keyid": 1}]},
            "DSSE signature keyid is not a string",
        ),
    ],
)
def test_malformed_envelopes_are_rejected(document: object, reason: str) -> None:
    with pytest.raises(SignatureFormatError) as raised:
        parse_envelope(document)
    assert raised.value.reason == reason


def test_cosign_statement_names_the_image_and_the_sign_predicate() -> None:
    statement = parse_statement(build_statement(DIGEST, annotations={"a": "b"}))
    assert statement.predicate_type == COSIGN_SIGN_PREDICATE
    subject = statement.subject_for(DIGEST)
    assert subject is not None and subject.annotations == {"a": "b"}
    assert statement.subject_for(OTHER) is None


def test_statement_v01_with_several_subjects_is_read() -> None:
    data = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "subject": [
                {"name": "a", "digest": {"sha512": "00"}},
                {"name": "b", "digest": {"sha256": OTHER.hex}},
            ],
            "predicateType": "p",
        }
    ).encode()
    statement = parse_statement(data)
    assert statement.subject_for(OTHER) is not None and statement.subject_for(DIGEST) is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"_type": "x", "subject": [], "predicateType": "p"}, "unknown in-toto statement type 'x'"),
        (
            {"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {}}]},
            "in-toto statement has no predicateType",
        ),
        (
            {"_type": "https://in-toto.io/Statement/v1", "predicateType": "p", "subject": []},
            "in-toto statement has no subject",
        ),
        (
            {
                "_type": "https://in-toto.io/Statement/v1",
                "predicateType": "p",
                "subject": [{"digest": {"sha256": 1}}],
            },
            "in-toto subject has no digest map",
        ),
    ],
)
def test_malformed_statements_are_rejected(document: object, reason: str) -> None:
    with pytest.raises(SignatureFormatError) as raised:
        parse_statement(json.dumps(document).encode())
    assert raised.value.reason == reason


# --- sigstore bundles -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "version"),
    [
        ("application/vnd.dev.sigstore.bundle.v0.3+json", (0, 3)),
        ("application/vnd.dev.sigstore.bundle+json;version=0.1", (0, 1)),
        ("application/vnd.dev.sigstore.bundle+json;version=0.2", (0, 2)),
        ("application/vnd.dev.sigstore.bundle+json;version=0.3", (0, 3)),
        ("application/vnd.dev.sigstore.bundle.v0.3+jsonx", None),
        ("application/json", None),
    ],
)
def test_bundle_media_types_name_their_version(media_type: str, version: tuple[int, int] | None) -> None:
    assert bundle_version(media_type) == version


def test_built_bundle_parses_back() -> None:
    envelope = Envelope("application/vnd.in-toto+json", build_statement(DIGEST), b"\x30\x01")
    bundle = parse_bundle(build_bundle(envelope, "hint=="))
    assert bundle.version == (0, 3) and bundle.public_key_hint == "hint==" and bundle.content == envelope
    assert bundle.certificates == () and bundle.tlog_entries == ()


def _bundle(**parts: object) -> bytes:
    document: dict[str, object] = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}
    document.update(parts)
    return json.dumps(document).encode()


ENVELOPE = {"payloadType": "t", "payload": "e30=", "signatures": [{"sig": "AA=="}]}
CERT = base64.b64encode(b"certificate der").decode()
V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"


def test_certificates_and_tlog_entries_are_kept_as_data() -> None:
    entry = {
        "logIndex": "42",
        "logId": {"keyId": base64.b64encode(b"\x01\x02").decode()},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": "1700000000",
        "inclusionPromise": {"signedEntryTimestamp": "AA=="},
        "canonicalizedBody": base64.b64encode(b"{}").decode(),
    }
    chain = {
        "x509CertificateChain": {"certificates": [{"rawBytes": CERT}, {"rawBytes": CERT}]},
        "tlogEntries": [entry],
    }
    bundle = parse_bundle(_bundle(mediaType=V02, verificationMaterial=chain, dsseEnvelope=ENVELOPE))
    assert bundle.certificates == (b"certificate der", b"certificate der")
    (parsed,) = bundle.tlog_entries
    assert (parsed.log_index, parsed.log_id, parsed.kind, parsed.integrated_time) == (
        42,
        "0102",
        "dsse",
        1700000000,
    )
    assert parsed.signed_entry_timestamp == b"\x00" and parsed.canonicalized_body == b"{}"
    leaf = parse_bundle(
        _bundle(verificationMaterial={"certificate": {"rawBytes": CERT}}, dsseEnvelope=ENVELOPE)
    )
    assert leaf.certificates == (b"certificate der",) and leaf.public_key_hint is None


def test_message_signature_bundles_are_read() -> None:
    message = {"messageDigest": {"algorithm": "SHA2_256", "digest": "AQI="}, "signature": "AwQ="}
    bundle = parse_bundle(
        _bundle(verificationMaterial={"publicKey": {"hint": "h"}}, messageSignature=message)
    )
    assert bundle.content == MessageSignature("SHA2_256", b"\x01\x02", b"\x03\x04")


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ({"dsseEnvelope": ENVELOPE}, "bundle has no verificationMaterial"),
        (
            {"verificationMaterial": {}, "dsseEnvelope": ENVELOPE},
            "bundle verificationMaterial needs exactly one of publicKey or certificate(s)",
        ),
        (
            {
                "verificationMaterial": {"publicKey": {}, "certificate": {"rawBytes": CERT}},
                "dsseEnvelope": ENVELOPE,
            },
            "bundle verificationMaterial needs exactly one of publicKey or certificate(s)",
        ),
        (
            {"verificationMaterial": {"publicKey": {}}},
            "bundle needs exactly one of dsseEnvelope or messageSignature",
        ),
        (
            {"verificationMaterial": {"publicKey": {}}, "dsseEnvelope": ENVELOPE, "messageSignature": {}},
            "bundle needs exactly one of dsseEnvelope or messageSignature",
        ),
        (
            {"verificationMaterial": {"publicKey": {}, "tlogEntries": {}}, "dsseEnvelope": ENVELOPE},
            "bundle tlogEntries is not a list",
        ),
        (
            {
                "verificationMaterial": {"publicKey": {}, "tlogEntries": [{"logIndex": True}]},
                "dsseEnvelope": ENVELOPE,
            },
            "bundle tlog logIndex is not an integer",
        ),
        (
            {
                "mediaType": V02,
                "verificationMaterial": {"x509CertificateChain": {"certificates": []}},
                "dsseEnvelope": ENVELOPE,
            },
            "bundle x509CertificateChain has no certificates",
        ),
        (
            {
                "verificationMaterial": {"x509CertificateChain": {"certificates": [{"rawBytes": CERT}]}},
                "dsseEnvelope": ENVELOPE,
            },
            "bundle v0.3 must carry its leaf as certificate, not x509CertificateChain",
        ),
    ],
)
def test_malformed_bundles_say_what_is_wrong(parts: dict[str, object], reason: str) -> None:
    with pytest.raises(SignatureFormatError) as raised:
        parse_bundle(_bundle(**parts))
    assert raised.value.reason == reason


def test_hint_and_keyid_must_agree_when_both_are_set() -> None:
    signed = {**ENVELOPE, "signatures": [{"sig": "AA==", "keyid": "abc"}]}
    assert parse_bundle(
        _bundle(verificationMaterial={"publicKey": {"hint": "abc"}}, dsseEnvelope=signed)
    ).content
    assert parse_bundle(_bundle(verificationMaterial={"publicKey": {}}, dsseEnvelope=signed)).content
    with pytest.raises(SignatureFormatError):
        parse_bundle(_bundle(verificationMaterial={"publicKey": {"hint": "xyz"}}, dsseEnvelope=signed))
