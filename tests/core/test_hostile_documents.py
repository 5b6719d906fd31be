"""Signed documents that Python and Go would read differently, or that are built to crash a parser.

Cosign, containers/image and sigstore-go read payloads with Go: keys match struct fields ignoring case and
the last duplicate wins. A payload that two parsers read as two different images must never be admitted,
and nothing a registry serves may end in a traceback instead of a rejection.
"""

from __future__ import annotations

import json

import pytest

from app.core.digests import Digest
from app.core.errors import SignatureFormatError
from app.core.formats.bundles import parse_bundle
from app.core.formats.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, build_statement, pae, parse_statement
from app.core.formats.layouts import parse_sig_manifest
from app.core.formats.simplesigning import build_payload, parse_payload
from app.core.ports import OCI_MANIFEST
from app.core.verification.verifier import Verifier
from tests.core.signers import REPO, attach_bundle, by_tag, ecdsa, push_image, sign_v2, sign_v3, unlogged
from tests.fakes import InMemoryRegistry

ALICE = ecdsa("alice")
DIGEST = Digest.of(b"image manifest")
OTHER = Digest.of(b"another manifest")
DEEP = b"[" * 100_000 + b"]" * 100_000


def _payload_with_second_digest_key(claimed: Digest, go_reads: Digest, key: bytes) -> bytes:
    """A payload whose `critical.image` names `claimed` and then, under `key`, `go_reads`."""
    text = build_payload("r/repo", claimed)
    return text.replace(
        b'"docker-manifest-digest":"' + str(claimed).encode() + b'"',
        b'"docker-manifest-digest":"'
        + str(claimed).encode()
        + b'","'
        + key
        + b'":"'
        + str(go_reads).encode()
        + b'"',
    )


@pytest.mark.parametrize("key", [b"docker-manifest-digest", b"Docker-Manifest-Digest"])
def test_a_payload_naming_its_digest_twice_is_refused(key: bytes) -> None:
    with pytest.raises(SignatureFormatError, match="duplicate key"):
        parse_payload(_payload_with_second_digest_key(DIGEST, OTHER, key))


async def test_a_signed_payload_that_go_reads_as_another_image_is_not_admitted() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    # Python alone would read the first (exact) key; cosign's Go decoder takes the last, case-insensitive one.
    payload = _payload_with_second_digest_key(image.digest, OTHER, b"Docker-Manifest-Digest")
    sign_v2(registry, image.digest, ALICE, payload=payload)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok
    assert [r.reason for r in verdict.rejected] == [
        "garbage: payload is not strict JSON (duplicate key 'Docker-Manifest-Digest')"
    ]


def test_a_statement_with_two_subject_lists_is_refused() -> None:
    statement = build_statement(DIGEST).replace(
        b'"subject":', b'"subject":[{"digest":{"sha256":"' + OTHER.hex.encode() + b'"}}],"Subject":', 1
    )
    with pytest.raises(SignatureFormatError, match="duplicate key 'Subject'"):
        parse_statement(statement)


def test_a_bundle_with_two_envelopes_is_refused() -> None:
    envelope = json.dumps(Envelope(IN_TOTO_PAYLOAD_TYPE, b"{}", b"sig").to_json())
    data = (
        '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",'
        '"verificationMaterial":{"publicKey":{"hint":""}},'
        f'"dsseEnvelope":{envelope},"dsseEnvelope":{envelope}}}'
    ).encode()
    with pytest.raises(SignatureFormatError, match="duplicate key 'dsseEnvelope'"):
        parse_bundle(data)


@pytest.mark.parametrize(
    "data",
    [
        build_payload("r/repo", DIGEST).decode().encode("utf-16"),  # Python guesses UTF-16; Go does not
        b"\xef\xbb\xbf" + build_payload("r/repo", DIGEST),  # a UTF-8 byte order mark
        build_payload("r/repo", DIGEST).replace(b'"optional":null', b'"optional":{"n":NaN}'),
        DEEP,
    ],
    ids=["utf-16", "bom", "nan", "deep"],
)
def test_payload_bytes_only_python_would_read_are_refused(data: bytes) -> None:
    with pytest.raises(SignatureFormatError, match=r"^payload is not (strict )?JSON"):
        parse_payload(data)


def test_deeply_nested_documents_are_format_errors_not_crashes() -> None:
    for parse in (parse_payload, parse_statement, parse_bundle, parse_sig_manifest):
        with pytest.raises(SignatureFormatError):
            parse(DEEP)


async def test_a_deeply_nested_sig_manifest_is_a_rejection_not_a_crash() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    registry.put_manifest(REPO, DEEP, OCI_MANIFEST, image.digest.signature_tag)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok
    assert [r.reason for r in verdict.rejected] == [
        "garbage: signature manifest is not strict JSON (nested too deeply)"
    ]


@pytest.mark.parametrize("field", ["logIndex", "integratedTime"])
async def test_a_bundle_with_a_non_ascii_number_is_a_rejection_not_a_crash(field: str) -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    statement = build_statement(image.digest)
    envelope = Envelope(IN_TOTO_PAYLOAD_TYPE, statement, ALICE.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement)))
    entry = {"logIndex": "1", "integratedTime": "2", field: "\u00b2"}  # '²'.isdigit() but int('²') fails
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ALICE.key.hint}, "tlogEntries": [entry]},
        "dsseEnvelope": envelope.to_json(),
    }
    attach_bundle(registry, image, json.dumps(bundle).encode())
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert not verdict.ok
    assert [r.reason for r in verdict.rejected] == [f"garbage: bundle tlog {field} is not an integer"]


async def test_a_statement_naming_several_images_signs_each_of_them_as_cosign_reads_it() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    both = build_statement(image.digest).replace(
        b'"subject":[', b'"subject":[{"digest":{"sha256":"' + OTHER.hex.encode() + b'"}},', 1
    )
    only_other = build_statement(OTHER)
    sign_v3(registry, image, ALICE, statement=both)
    sign_v3(registry, image, ALICE, statement=only_other)
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    assert len(verdict.verified) == 1
    assert [r.reason for r in verdict.rejected] == [f"bundle subject does not name the image {image.digest}"]


async def test_a_signed_predicate_type_that_could_forge_a_log_line_is_quoted() -> None:
    registry = InMemoryRegistry()
    image = push_image(registry, "v1")
    sign_v3(registry, image, ALICE, predicate_type="https://x\nINFO admitted")
    verdict = await Verifier(registry).verify(by_tag("v1"), unlogged(ALICE.key))
    (rejected,) = verdict.rejected
    assert "\n" not in rejected.reason and "'https://x\\nINFO admitted'" in rejected.reason
