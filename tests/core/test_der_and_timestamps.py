"""The strict DER reader, and RFC 3161 tokens made by the real `openssl ts` (tests/support/sigstore/tsa.py)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from app.core import der
from app.core.der import DerError
from app.core.errors import SignatureFormatError
from app.core.transparency.timestamps import parse_timestamp
from app.core.trust.certificates import timestamping_problem
from tests.support.sigstore.tsa import TimestampAuthority

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x30\x80\x00\x00", "indefinite"),
        (b"\x04\x81\x01\x00", "shortest form"),
        (b"\x04\x82\x00\x01\x00", "shortest form"),
        (b"\x04\x02\x00", "truncated"),
        (b"\x04\x01\x00\x00", "after its DER value"),
        (b"\x1f\x01\x00", "high tag"),
    ],
)
def test_der_that_two_readers_could_read_differently_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(DerError, match=reason):
        der.read(data)


def test_integers_object_identifiers_and_times_are_read_strictly() -> None:
    assert der.integer(der.read(b"\x02\x02\x00\x80"), "n") == 128
    assert der.integer(der.read(b"\x02\x01\xff"), "n") == -1
    with pytest.raises(DerError, match="minimally"):
        der.integer(der.read(b"\x02\x02\x00\x01"), "n")
    assert (
        der.oid(der.read(bytes.fromhex("06096086480165030402 01".replace(" ", ""))), "o")
        == "2.16.840.1.101.3.4.2.1"
    )
    with pytest.raises(DerError, match="minimally"):
        der.oid(der.read(b"\x06\x03\x2a\x80\x01"), "o")
    moment = der.generalized_time(der.read(b"\x18\x13" + b"20250612120220.125Z"), "t")
    assert moment == datetime.datetime(2025, 6, 12, 12, 2, 20, 125000, tzinfo=UTC)
    for text in (b"20250612120220.120Z", b"202506121202Z", b"20250612120220+0100"):
        with pytest.raises(DerError, match="GeneralizedTime"):
            der.generalized_time(der.read(b"\x18" + bytes([len(text)]) + text), "t")


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> TimestampAuthority:
    return TimestampAuthority(tmp_path_factory.mktemp("tsa"))


def test_an_openssl_token_names_its_time_imprint_and_signer(tsa: TimestampAuthority) -> None:
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    token = parse_timestamp(tsa.timestamp(b"signature bytes"))
    assert before - datetime.timedelta(seconds=2) <= token.gen_time <= datetime.datetime.now(UTC)
    assert token.covers(b"signature bytes") and not token.covers(b"other bytes")
    assert token.policy == "1.3.6.1.4.1.57264.2"
    assert token.certificates == (tsa.leaf,)
    assert token.signer_problem(tsa.leaf) is None
    assert token.signer_problem(tsa.root) is not None
    assert timestamping_problem(tsa.leaf) is None and timestamping_problem(tsa.root) is not None


def test_a_token_signed_by_another_authority_is_not_its_signers(
    tsa: TimestampAuthority, tmp_path: Path
) -> None:
    other = TimestampAuthority(tmp_path)
    token = parse_timestamp(other.timestamp(b"signature bytes"))
    assert (
        token.signer_problem(tsa.leaf) == "timestamp is not signed by the timestamp authority's certificate"
    )


def test_a_token_with_any_signed_byte_changed_does_not_verify(tsa: TimestampAuthority) -> None:
    response = tsa.timestamp(b"signature bytes")
    token = parse_timestamp(response)
    position = response.find(token.imprint)
    tampered = bytearray(response)
    tampered[position] ^= 0x01  # the imprint inside the signed TSTInfo
    forged = parse_timestamp(bytes(tampered))
    assert (
        forged.signer_problem(tsa.leaf) == "timestamp's message digest attribute does not match its content"
    )


def test_a_response_that_is_not_a_granted_token_is_refused() -> None:
    with pytest.raises(SignatureFormatError):
        parse_timestamp(b"\x30\x05\x30\x03\x02\x01\x02")  # status "rejection", no token
    with pytest.raises(SignatureFormatError):
        parse_timestamp(b"not der at all")
