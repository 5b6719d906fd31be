"""Offline checks of Rekor v1 transparency-log evidence: the signed entry timestamp (SET) and whether
the logged entry is about the signature at hand. Not wired into `verify` yet.

- SET (docs/formats.md#set; cosign `VerifyBundle`, containers/image `rekor_set.go`): the log's ECDSA
  signature over the RFC 8785 (JCS) canonical JSON of `{body, integratedTime, logID, logIndex}`. For
  these four members (ASCII strings, integers) JCS is sorted keys, no whitespace, plain decimals. The
  log key is chosen by `logID` = hex sha256 of its SPKI DER.
- Body consistency: a valid SET only proves the log saw *some* entry. The entry must record this
  artifact's sha256, this signature and this key or certificate, else CVE-2022-36056 applies
  (sigstore-python's "transparency log entry is inconsistent with other materials"). `hashedrekord`
  0.0.1 and `dsse` 0.0.1 bodies are understood; other kinds are reported as unsupported.

Pure: bytes and keys in, a problem string (or None) out. Trusted-root parsing is here too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_der_public_key

from app.core import strictjson
from app.core.errors import KeyLoadError, SignatureFormatError
from app.core.formats.bundles import TlogEntry
from app.core.formats.dsse import decode_base64
from app.core.trust.keys import TrustedKey, trusted_key_from


@dataclass(frozen=True)
class SignedEntry:
    """What a SET signs, and the SET itself."""

    body: str  # base64 of the entry JSON, exactly as logged
    integrated_time: int
    log_id: str  # lower-case hex
    log_index: int
    signed_entry_timestamp: bytes

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON of the four signed members."""
        if not (self.body.isascii() and self.log_id.isascii()):
            raise SignatureFormatError("Rekor entry body or logID is not ASCII")
        document = {
            "body": self.body,
            "integratedTime": self.integrated_time,
            "logID": self.log_id,
            "logIndex": self.log_index,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    def body_bytes(self) -> bytes:
        return decode_base64(self.body, "Rekor entry body")


@dataclass(frozen=True)
class EntryBody:
    """The parts of a logged entry that must agree with the signature it vouches for."""

    kind: str
    artifact_sha256: str  # hex: hashedrekord data hash, or dsse payloadHash
    signature: bytes
    verifier_der: bytes  # DER of the logged PEM: a certificate or a SubjectPublicKeyInfo


def parse_cosign_bundle_annotation(text: str) -> SignedEntry:
    """The `dev.sigstore.cosign/bundle` layer annotation (docs/formats.md#rekor-bundle-shape)."""
    try:
        document = strictjson.loads(text)
        payload = document["Payload"]
        return SignedEntry(
            body=_str(payload["body"]),
            integrated_time=_int(payload["integratedTime"]),
            log_id=_str(payload["logID"]).lower(),
            log_index=_int(payload["logIndex"]),
            signed_entry_timestamp=decode_base64(document["SignedEntryTimestamp"], "SignedEntryTimestamp"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureFormatError("malformed Rekor bundle annotation", f"Rekor bundle: {exc}") from exc


def signed_entry_of(entry: TlogEntry) -> SignedEntry:
    """The SET-signed data of a sigstore bundle tlog entry (body = base64 of `canonicalizedBody`)."""
    if entry.signed_entry_timestamp is None:
        raise SignatureFormatError("tlog entry has no inclusion promise (SET)")
    return SignedEntry(
        body=base64.b64encode(entry.canonicalized_body).decode(),
        integrated_time=entry.integrated_time,
        log_id=entry.log_id,
        log_index=entry.log_index,
        signed_entry_timestamp=entry.signed_entry_timestamp,
    )


def set_problem(entry: SignedEntry, log_keys: Sequence[TrustedKey]) -> str | None:
    """Why the SET does not verify with the log key named by `logID` (None when it does)."""
    key = next((k for k in log_keys if k.fingerprint == f"sha256:{entry.log_id}"), None)
    if key is None:
        return f"no trusted transparency log has logID {entry.log_id[:16]}…"
    if not key.verify(entry.signed_entry_timestamp, entry.canonical()):
        return "transparency log SET does not verify"
    return None


def parse_entry_body(data: bytes) -> EntryBody:
    """Read a `hashedrekord` or `dsse` (0.0.1) entry body; `SignatureFormatError` otherwise."""
    try:
        document = strictjson.loads(data)
        kind, spec = document["kind"], document["spec"]
        if kind == "hashedrekord":
            hashed = spec["data"]["hash"]
            if hashed["algorithm"] != "sha256":
                raise SignatureFormatError(
                    f"hashedrekord hash algorithm {hashed['algorithm']!r} is not sha256"
                )
            signature = spec["signature"]
            return EntryBody(
                kind,
                _str(hashed["value"]).lower(),
                decode_base64(signature["content"], "logged signature"),
                _pem_der(decode_base64(signature["publicKey"]["content"], "logged key")),
            )
        if kind == "dsse":
            (logged,) = spec["signatures"]
            payload_hash = spec["payloadHash"]
            if payload_hash["algorithm"] != "sha256":
                raise SignatureFormatError("dsse payloadHash algorithm is not sha256")
            return EntryBody(
                kind,
                _str(payload_hash["value"]).lower(),
                decode_base64(logged["signature"], "logged signature"),
                _pem_der(decode_base64(logged["verifier"], "logged verifier")),
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureFormatError("malformed transparency log entry body", f"entry body: {exc}") from exc
    raise SignatureFormatError(f"unsupported transparency log entry kind {str(kind)[:40]!r}")


def body_problem(body: EntryBody, artifact_sha256: str, signature: bytes, verifier_der: bytes) -> str | None:
    """Why the logged entry is not about this signature (None when hash, signature and key all agree).
    `artifact_sha256` is the hex sha256 of the signed payload; `verifier_der` the certificate DER or
    the SPKI DER of the key that verified it."""
    if body.artifact_sha256 != artifact_sha256.lower():
        return "transparency log entry records another artifact hash"
    if body.signature != signature:
        return "transparency log entry records another signature"
    if body.verifier_der != verifier_der:
        return "transparency log entry records another key or certificate"
    return None


def trusted_root_log_keys(data: bytes) -> tuple[TrustedKey, ...]:
    """The transparency-log keys of a sigstore trusted root (`tlogs[].publicKey.rawBytes`, SPKI DER)."""
    try:
        document = strictjson.loads(data)
        keys = []
        for log in document.get("tlogs", []):
            der = base64.b64decode(log["publicKey"]["rawBytes"], validate=True)
            keys.append(trusted_key_from(load_der_public_key(der), str(log.get("baseUrl", "rekor"))))
        return tuple(keys)
    except (ValueError, KeyError, TypeError, binascii.Error, UnsupportedAlgorithm, KeyLoadError) as exc:
        raise SignatureFormatError("malformed trusted root", f"trusted root: {exc}") from exc


def _pem_der(pem: bytes) -> bytes:
    """The DER inside a single PEM block (certificate or public key)."""
    lines = pem.decode("ascii").strip().splitlines()
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END "):
        raise SignatureFormatError("logged key or certificate is not PEM")
    return base64.b64decode("".join(lines[1:-1]), validate=True)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value
