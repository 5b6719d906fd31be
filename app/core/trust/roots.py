"""The Sigstore trusted root: which transparency logs, CAs, CT logs and timestamp authorities to trust, when.

The JSON is protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot` in protojson (the file `cosign
--trusted-root` and sigstore-go/-python read; `sigstore_trustroot.proto`, `sigstore_common.proto`):

- `mediaType`: `application/vnd.dev.sigstore.trustedroot+json;version=0.1` (what the public-good root
  and every client use today) or `application/vnd.dev.sigstore.trustedroot.v0.2+json` (what the proto
  says writers must use). Both are read.
- `tlogs[]` / `ctlogs[]`: `baseUrl`, `hashAlgorithm`, `publicKey {rawBytes (SPKI DER), keyDetails,
  validFor}`, `logId.keyId` (Rekor v1 and CT: SHA-256 of the SPKI; Rekor v2: the C2SP note key hash),
  optional `checkpointKeyId` (default: the first four bytes of the log ID).
- `certificateAuthorities[]` / `timestampAuthorities[]`: `certChain.certificates[].rawBytes` (DER,
  leaf-most first, the last one the trust anchor), `validFor`, `uri`.
- `validFor` is a closed range `[start, end]`; `end` may be absent (still trusted). A missing `start`
  makes the root malformed (conformance `trust-root-tlog-missing-validity-start_fail`), and every
  instance must say when it is valid: stricter than sigstore-go, which lets CAs omit it.

A malformed root raises `ConfigError` naming the field. Pure: bytes in, a frozen `TrustedRoot` out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_der_public_key

from app.core.errors import ConfigError, KeyLoadError, SignatureFormatError
from app.core.strictjson import parse_object
from app.core.trust.keys import TrustedKey, trusted_key_from

MEDIA_TYPES = (
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.1+json",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
)
MAX_ROOT_BYTES = 1 << 20
_ROOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_root_name(name: str) -> str:
    """`name` when it can name a trusted root in a config (it appears in messages and cache keys)."""
    if not _ROOT_NAME.fullmatch(name):
        raise ConfigError(f"invalid trusted root name {name!r}: letters, digits, '.', '_', '-' (max 63)")
    return name


@dataclass(frozen=True)
class TimeRange:
    """A closed validity range; `end` None means still valid."""

    start: datetime
    end: datetime | None = None

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment <= self.end)


@dataclass(frozen=True)
class LogInstance:
    """A transparency log (Rekor v1/v2) or CT log the root trusts during `valid_for`."""

    base_url: str
    key: TrustedKey
    log_id: bytes
    checkpoint_key_id: bytes
    valid_for: TimeRange

    @property
    def host(self) -> str:
        """The host name of `base_url`: a Rekor v2 checkpoint's origin and signer name."""
        return urllib.parse.urlsplit(self.base_url).hostname or self.base_url


@dataclass(frozen=True)
class Authority:
    """A certificate authority (Fulcio) or timestamp authority: its chain, leaf-most first."""

    uri: str
    certificates: tuple[x509.Certificate, ...] = field(compare=False)
    valid_for: TimeRange


@dataclass(frozen=True)
class TrustedRoot:
    """A parsed trusted root. `digest` (sha256 of the file) names it in verdict cache keys."""

    name: str
    digest: str
    tlogs: tuple[LogInstance, ...]
    ctlogs: tuple[LogInstance, ...]
    certificate_authorities: tuple[Authority, ...]
    timestamp_authorities: tuple[Authority, ...]

    def tlog(self, log_id: bytes) -> LogInstance | None:
        """The transparency log with this log ID (whatever its validity; callers check the time)."""
        return next((log for log in self.tlogs if log.log_id == log_id), None)

    def ctlog_at(self, log_id: bytes, moment: datetime) -> LogInstance | None:
        """The CT log with this log ID, when it is trusted at `moment`."""
        return next((c for c in self.ctlogs if c.log_id == log_id and c.valid_for.contains(moment)), None)


def parse_trusted_root(data: bytes, name: str) -> TrustedRoot:
    """Read a trusted root JSON document; `ConfigError` naming `name` and the field when malformed."""
    if len(data) > MAX_ROOT_BYTES:
        raise ConfigError(f"trusted root {name}: larger than {MAX_ROOT_BYTES} bytes")
    try:
        document = parse_object(data, "trusted root")
    except SignatureFormatError as exc:
        raise ConfigError(f"trusted root {name}: {exc.reason}") from exc
    where = _Where(name)
    if document.get("mediaType") not in MEDIA_TYPES:
        raise ConfigError(
            f"trusted root {name}: unsupported mediaType {str(document.get('mediaType'))[:80]!r}"
        )
    return TrustedRoot(
        name=name,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        tlogs=tuple(_log(where, "tlogs", i, raw) for i, raw in _items(where, document, "tlogs")),
        ctlogs=tuple(_log(where, "ctlogs", i, raw) for i, raw in _items(where, document, "ctlogs")),
        certificate_authorities=tuple(
            _authority(where, "certificateAuthorities", i, raw)
            for i, raw in _items(where, document, "certificateAuthorities")
        ),
        timestamp_authorities=tuple(
            _authority(where, "timestampAuthorities", i, raw)
            for i, raw in _items(where, document, "timestampAuthorities")
        ),
    )


@dataclass(frozen=True)
class _Where:
    name: str

    def error(self, path: str, problem: str) -> ConfigError:
        return ConfigError(f"trusted root {self.name}: {path}: {problem}")


def _items(where: _Where, document: Mapping[str, Any], key: str) -> list[tuple[int, Any]]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise where.error(key, "is not a list")
    return list(enumerate(value))


def _log(where: _Where, kind: str, index: int, raw: Any) -> LogInstance:
    path = f"{kind}[{index}]"
    raw = _object(where, path, raw)
    public_key = _object(where, f"{path}.publicKey", raw.get("publicKey"))
    if raw.get("hashAlgorithm", "SHA2_256") != "SHA2_256":
        raise where.error(f"{path}.hashAlgorithm", "only SHA2_256 logs are supported")
    der = _bytes(where, f"{path}.publicKey.rawBytes", public_key.get("rawBytes"))
    try:
        key = trusted_key_from(load_der_public_key(der), f"{kind} {raw.get('baseUrl', index)}")
    except (ValueError, UnsupportedAlgorithm, KeyLoadError) as exc:
        raise where.error(f"{path}.publicKey", "is not a supported public key") from exc
    log_id_object = _object(where, f"{path}.logId", raw.get("logId"))
    log_id = _bytes(where, f"{path}.logId.keyId", log_id_object.get("keyId"))
    checkpoint = raw.get("checkpointKeyId")
    checkpoint_id = (
        _bytes(where, f"{path}.checkpointKeyId.keyId", _object(where, path, checkpoint).get("keyId"))
        if checkpoint is not None
        else log_id[:4]
    )
    return LogInstance(
        base_url=_text(where, f"{path}.baseUrl", raw.get("baseUrl")),
        key=key,
        log_id=log_id,
        checkpoint_key_id=checkpoint_id[:4],
        valid_for=_range(where, f"{path}.publicKey.validFor", public_key.get("validFor")),
    )


def _authority(where: _Where, kind: str, index: int, raw: Any) -> Authority:
    path = f"{kind}[{index}]"
    raw = _object(where, path, raw)
    chain = _object(where, f"{path}.certChain", raw.get("certChain")).get("certificates")
    if not isinstance(chain, list) or not chain:
        raise where.error(f"{path}.certChain.certificates", "has no certificates")
    certificates = []
    for position, entry in enumerate(chain):
        cert_path = f"{path}.certChain.certificates[{position}]"
        der = _bytes(where, cert_path, _object(where, cert_path, entry).get("rawBytes"))
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise where.error(cert_path, "is not a DER certificate") from exc
    return Authority(
        uri=str(raw.get("uri", "")),
        certificates=tuple(certificates),
        valid_for=_range(where, f"{path}.validFor", raw.get("validFor")),
    )


def _range(where: _Where, path: str, raw: Any) -> TimeRange:
    value = _object(where, path, raw)
    if "start" not in value:
        raise where.error(path, "has no start (a validity range must say when it starts)")
    start = _time(where, f"{path}.start", value["start"])
    end = _time(where, f"{path}.end", value["end"]) if value.get("end") is not None else None
    if end is not None and end < start:
        raise where.error(path, "ends before it starts")
    return TimeRange(start, end)


def _time(where: _Where, path: str, raw: Any) -> datetime:
    # protojson Timestamp: RFC 3339 with "Z" and 0, 3, 6 or 9 fractional digits.
    text = _text(where, path, raw)
    whole, _, fraction = text.removesuffix("Z").partition(".")
    if not text.endswith("Z") or (fraction and not fraction.isdigit()) or len(fraction) > 9:
        raise where.error(path, f"{text[:40]!r} is not an RFC 3339 UTC time")
    try:
        moment = datetime.fromisoformat(whole + "+00:00")
    except ValueError as exc:
        raise where.error(path, f"{text[:40]!r} is not an RFC 3339 UTC time") from exc
    return moment.replace(microsecond=int(fraction[:6].ljust(6, "0"))) if fraction else moment


def _object(where: _Where, path: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise where.error(path, "is missing or not an object")
    return raw


def _text(where: _Where, path: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise where.error(path, "is missing or not a string")
    return raw


def _bytes(where: _Where, path: str, raw: Any) -> bytes:
    try:
        if not isinstance(raw, str) or not raw:
            raise ValueError("missing")
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise where.error(path, "is missing or not base64") from exc
