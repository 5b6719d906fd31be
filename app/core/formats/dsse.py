"""DSSE envelopes and in-toto statements, as cosign v3 signs images (docs/formats.md#dsse, #in-toto).

- PAE, the pre-authentication encoding that is what a DSSE signature covers (secure-systems-lab DSSE
  `protocol.md`): `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
- The envelope `{payload, payloadType, signatures:[{sig, keyid?}]}`: cosign/sigstore bundles carry
  exactly one signature (sigstore `protobuf-specs` bundle rules), so anything else is rejected here.
  DSSE allows standard or URL-safe base64; both are read.
- The in-toto Statement v0.1/v1 (`_type`, `subject[].digest`, `predicateType`, `predicate`).

Parsing only: no signature checks (see `verify`), no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from app.core.digests import Digest
from app.core.errors import SignatureFormatError
from app.core.strictjson import parse_object

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of `payload` with `payload_type`."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def decode_base64(text: object, what: str) -> bytes:
    """Decode standard or URL-safe base64 (padding and line breaks optional); raise `SignatureFormatError`."""
    if not isinstance(text, str) or not text.isascii():
        raise SignatureFormatError(f"{what} is not a base64 string")
    text = text.replace("\r", "").replace("\n", "")  # Go's decoder skips line breaks; so do cosign's inputs
    padded = text + "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        padded = padded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureFormatError(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope with its one signature, base64 already decoded."""

    payload_type: str
    payload: bytes
    signature: bytes
    keyid: str = ""

    def signed_bytes(self) -> bytes:
        """What the signature covers: PAE(payloadType, payload)."""
        return pae(self.payload_type, self.payload)

    def to_json(self) -> dict[str, Any]:
        """The envelope as sigstore bundles and cosign write it (standard base64)."""
        signature: dict[str, str] = {"sig": base64.b64encode(self.signature).decode()}
        if self.keyid:
            signature["keyid"] = self.keyid
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [signature],
        }


def parse_envelope(document: object) -> Envelope:
    """Parse a DSSE envelope JSON object; exactly one signature is accepted."""
    if not isinstance(document, dict):
        raise SignatureFormatError("DSSE envelope is not a JSON object")
    payload_type = document.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise SignatureFormatError("DSSE envelope has no payloadType")
    payload = decode_base64(document.get("payload"), "DSSE payload")
    signatures = document.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        count = len(signatures) if isinstance(signatures, list) else "no"
        raise SignatureFormatError(f"DSSE envelope has {count} signatures; exactly one is required")
    entry = signatures[0]
    if not isinstance(entry, dict):
        raise SignatureFormatError("DSSE signature is not a JSON object")
    keyid = entry.get("keyid", "")
    if not isinstance(keyid, str):
        raise SignatureFormatError("DSSE signature keyid is not a string")
    signature = decode_base64(entry.get("sig"), "DSSE signature")
    if not signature:
        raise SignatureFormatError("DSSE signature is empty")
    return Envelope(payload_type=payload_type, payload=payload, signature=signature, keyid=keyid)


@dataclass(frozen=True)
class Subject:
    """One in-toto subject: a name (often empty for images) and its digests by algorithm."""

    name: str
    digests: Mapping[str, str] = field(hash=False)
    annotations: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement (v0.1 or v1)."""

    type: str
    subjects: tuple[Subject, ...]
    predicate_type: str

    def subject_for(self, digest: Digest) -> Subject | None:
        """The subject naming `digest` (cosign's IntotoSubjectClaimVerifier), if any."""
        for subject in self.subjects:
            if subject.digests.get(digest.algorithm, "").lower() == digest.hex:
                return subject
        return None


def parse_statement(data: bytes) -> Statement:
    """Parse in-toto statement bytes; raise `SignatureFormatError` saying what is wrong."""
    document = parse_object(data, "in-toto statement")
    kind = document.get("_type")
    if kind not in STATEMENT_TYPES:
        raise SignatureFormatError(f"unknown in-toto statement type {str(kind)[:80]!r}")
    predicate_type = document.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise SignatureFormatError("in-toto statement has no predicateType")
    raw_subjects = document.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise SignatureFormatError("in-toto statement has no subject")
    return Statement(
        type=kind, subjects=tuple(_subject(s) for s in raw_subjects), predicate_type=predicate_type
    )


def build_statement(
    digest: Digest, predicate_type: str = COSIGN_SIGN_PREDICATE, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The statement cosign v3 `sign` writes (docs/formats.md#in-toto): one subject with the image digest
    and the `-a` annotations (`{}` if none), predicate `{}`. Compact JSON."""
    document = {
        "_type": STATEMENT_TYPES[0],
        "subject": [{"digest": {digest.algorithm: digest.hex}, "annotations": dict(annotations or {})}],
        "predicateType": predicate_type,
        "predicate": {},
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _subject(raw: object) -> Subject:
    if not isinstance(raw, dict):
        raise SignatureFormatError("in-toto subject is not a JSON object")
    digests = raw.get("digest")
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise SignatureFormatError("in-toto subject has no digest map")
    name = raw.get("name", "")
    annotations = raw.get("annotations") or {}
    if not isinstance(name, str) or not isinstance(annotations, dict):
        raise SignatureFormatError("in-toto subject has a malformed name or annotations")
    return Subject(
        name=name, digests=MappingProxyType(dict(digests)), annotations=MappingProxyType(annotations)
    )
