"""A small, strict DER reader (ITU-T X.690 §10): enough ASN.1 for RFC 3161 tokens and certificate extensions.

`cryptography` parses certificates but has no CMS/TSP parser and hands unknown extensions over as raw
bytes, so the timestamp code and the Fulcio extension readers walk the DER here.
Strict on purpose, because the bytes are signed and two readers must never see two documents: definite
lengths only, in their shortest form; single-byte tags (no high tag numbers, which no structure read
here uses); no bytes after the outermost value; INTEGERs minimally encoded. A violation raises
`DerError` (a `SignatureFormatError`). No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.errors import SignatureFormatError

INTEGER, OCTET_STRING, NULL, OID, UTF8_STRING = 0x02, 0x04, 0x05, 0x06, 0x0C
SEQUENCE, SET, GENERALIZED_TIME = 0x30, 0x31, 0x18
MAX_DER_BYTES = 1 << 20  # a timestamp token is a few KiB; refuse anything absurd before reading


class DerError(SignatureFormatError):
    """Bytes that are not strict DER, or not the structure expected."""


@dataclass(frozen=True)
class Tlv:
    """One DER value: its tag byte, its contents, and its whole encoding (tag + length + contents)."""

    tag: int
    value: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def context(self, number: int, constructed: bool = True) -> bool:
        """True when this is the context-specific tag `[number]`."""
        return self.tag == (0xA0 if constructed else 0x80) | number

    def children(self) -> list[Tlv]:
        """The values inside a constructed value, in order."""
        if not self.constructed:
            raise DerError(f"DER tag 0x{self.tag:02x} is not constructed")
        return read_all(self.value)

    def expect(self, tag: int, what: str) -> Tlv:
        """This value, after checking its tag; `DerError` naming `what` otherwise."""
        if self.tag != tag:
            raise DerError(f"{what}: expected DER tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self


def read(data: bytes, what: str = "DER") -> Tlv:
    """Exactly one DER value spanning all of `data`."""
    if len(data) > MAX_DER_BYTES:
        raise DerError(f"{what} is larger than {MAX_DER_BYTES} bytes")
    try:
        value, end = _read_at(data, 0)
    except DerError as exc:
        raise DerError(f"{what}: {exc.reason}") from exc
    if end != len(data):
        raise DerError(f"{what} has {len(data) - end} bytes after its DER value")
    return value


def read_all(data: bytes) -> list[Tlv]:
    """Every DER value in `data`, one after the other (the contents of a SEQUENCE or SET)."""
    values, offset = [], 0
    while offset < len(data):
        value, offset = _read_at(data, offset)
        values.append(value)
    return values


def _read_at(data: bytes, offset: int) -> tuple[Tlv, int]:
    start = offset
    if offset + 2 > len(data):
        raise DerError("DER value is truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("DER high tag numbers are not used by any structure read here")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite DER length (BER) is not DER")
    else:
        count = first & 0x7F
        if count > 4 or offset + count > len(data):
            raise DerError("DER length is truncated or too large")
        length = int.from_bytes(data[offset : offset + count], "big")
        if data[offset] == 0 or length < 0x80:
            raise DerError("DER length is not in its shortest form")
        offset += count
    end = offset + length
    if end > len(data):
        raise DerError("DER value is truncated")
    return Tlv(tag, data[offset:end], data[start:end]), end


def utf8_string(data: bytes, what: str) -> str:
    """The text of one DER UTF8String (a Fulcio extension value)."""
    try:
        return read(data, what).expect(UTF8_STRING, what).value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DerError(f"{what} is not UTF-8") from exc


def integer(tlv: Tlv, what: str) -> int:
    """A minimally encoded INTEGER."""
    value = tlv.expect(INTEGER, what).value
    if not value or (len(value) > 1 and (value[0], value[1] & 0x80) in ((0, 0), (0xFF, 0x80))):
        raise DerError(f"{what}: INTEGER is empty or not minimally encoded")
    return int.from_bytes(value, "big", signed=True)


def oid(tlv: Tlv, what: str) -> str:
    """An OBJECT IDENTIFIER in dotted form."""
    value = tlv.expect(OID, what).value
    if not value or value[-1] & 0x80:
        raise DerError(f"{what}: OBJECT IDENTIFIER is truncated")
    arcs: list[int] = []
    current, arc_start = 0, True
    for byte in value:
        if arc_start and byte == 0x80:
            raise DerError(f"{what}: OBJECT IDENTIFIER arc is not minimally encoded")
        current = (current << 7) | (byte & 0x7F)
        arc_start = not byte & 0x80
        if arc_start:
            arcs.append(current)
            current = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def octets(tlv: Tlv, what: str) -> bytes:
    """The contents of an OCTET STRING."""
    return tlv.expect(OCTET_STRING, what).value


def generalized_time(tlv: Tlv, what: str) -> datetime:
    """A GeneralizedTime in the DER form RFC 5280 §4.1.2.5.2 and RFC 3161 §2.4.2 require:
    `YYYYMMDDHHMMSS[.fff]Z`, UTC, no trailing zeros in the fraction."""
    text = tlv.expect(GENERALIZED_TIME, what).value.decode("ascii", "replace")
    whole, dot, fraction = text.removesuffix("Z").partition(".")
    valid = (
        text.endswith("Z")
        and len(whole) == 14
        and whole.isdigit()
        and (not dot or (fraction.isdigit() and fraction[-1:] != "0"))
    )
    if not valid:
        raise DerError(f"{what}: {text[:40]!r} is not a DER GeneralizedTime")
    try:
        moment = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise DerError(f"{what}: {text[:40]!r} is not a valid time") from exc
    return moment.replace(microsecond=int(fraction[:6].ljust(6, "0"))) if dot else moment
