"""What a logged entry body says was signed, by whom: the facts that bind a log entry to a signature.

A valid SET or inclusion proof only shows that the log holds *some* entry. It vouches for this
signature only when the entry records this signature, this key or certificate and this content's hash
(CVE-2022-36056, GHSA-whqx-f9j3-ch6m). Kinds read here (Rekor `pkg/types`, rekor-tiles
`api/proto/rekor/v2`; docs/formats.md#rekor-body and #tlog-entries):

- `hashedrekord` 0.0.1: `spec.data.hash` = hash of the signed bytes, `spec.signature.content`,
  `spec.signature.publicKey.content` = base64 PEM key or certificate;
- `dsse` 0.0.1: `spec.payloadHash` = hash of the DSSE payload, `spec.signatures[{signature, verifier}]`;
- `intoto` 0.0.2: `spec.content.payloadHash`, `spec.content.envelope.signatures[{sig, publicKey}]`, where
  `sig` is base64 of the base64 signature text;
- `intoto` 0.0.1: `spec.content.payloadHash` and `spec.content.hash` (of the envelope as uploaded),
  `spec.publicKey`; it records no signature, so only an envelope-hash match can bind it;
- Rekor v2 `hashedrekord` 0.0.2: `spec.hashedRekordV002.data.digest` = hash of the signed bytes (for
  DSSE, of PAE(type, payload)), `signature.content`, `signature.verifier.{x509Certificate|publicKey}.rawBytes`;
- Rekor v2 `dsse` 0.0.2 (dropped by rekor-tiles, still in old bundles): `spec.dsseV002.payloadHash`.

Entries with several signatures are refused: cosign logs exactly one. Other kinds (`rekord`, …) are
reported as unsupported. Pure: bytes in, a `LoggedSignature` or a `SignatureFormatError` out.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from app.core.digests import PROTOBUF_HASH_NAMES
from app.core.errors import SignatureFormatError
from app.core.strictjson import parse_object

MESSAGE, PAYLOAD = "message", "payload"  # what `LoggedSignature.digest` is the hash of
_ALGORITHMS = {"sha256": "sha256", "sha384": "sha384", "sha512": "sha512", **PROTOBUF_HASH_NAMES}


@dataclass(frozen=True)
class LoggedSignature:
    """The signature a log entry records."""

    kind: str
    version: str
    digest_of: str  # MESSAGE: the signed bytes (for DSSE in Rekor v2, the PAE); PAYLOAD: the DSSE payload
    algorithm: str  # hashlib name
    digest: bytes
    signature: bytes | None  # None for intoto 0.0.1, which does not record it
    verifier: bytes  # DER of the certificate, or SubjectPublicKeyInfo DER of the key
    envelope_hash: bytes | None = None  # intoto 0.0.1: hash of the envelope as uploaded


class _Recorded(NamedTuple):
    """What one kind's spec records: `LoggedSignature` without the kind and version."""

    digest_of: str
    algorithm: str
    digest: bytes
    signature: bytes | None
    verifier: bytes
    envelope_hash: bytes | None = None


def parse_body(body: bytes) -> LoggedSignature:
    """Read a logged entry body; `SignatureFormatError` when it is malformed or of another kind."""
    document = parse_object(body, "log entry body")
    kind, version, spec = document.get("kind"), document.get("apiVersion"), document.get("spec")
    reader = _READERS.get((kind, version)) if isinstance(kind, str) and isinstance(version, str) else None
    if reader is None:
        raise SignatureFormatError(f"unsupported log entry kind {str(kind)[:40]} {str(version)[:20]}")
    assert isinstance(kind, str) and isinstance(version, str)
    try:
        return LoggedSignature(kind, version, *reader(_dict(spec)))
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureFormatError(f"malformed {kind} {version} log entry body", f"{kind}: {exc!r}") from exc


def _hashedrekord_v1(spec: dict[str, Any]) -> _Recorded:
    hashed, signature = _hex_hash(_dict(spec["data"])["hash"]), _dict(spec["signature"])
    verifier = _pem_der(_b64(_dict(signature["publicKey"])["content"]))
    return _Recorded(MESSAGE, *hashed, _b64(signature["content"]), verifier)


def _dsse_v1(spec: dict[str, Any]) -> _Recorded:
    hashed, logged = _hex_hash(spec["payloadHash"]), _only(spec["signatures"])
    return _Recorded(PAYLOAD, *hashed, _b64(logged["signature"]), _pem_der(_b64(logged["verifier"])))


def _intoto_v2(spec: dict[str, Any]) -> _Recorded:
    content = _dict(spec["content"])
    hashed, logged = _hex_hash(content["payloadHash"]), _only(_dict(content["envelope"])["signatures"])
    signature = _b64(_b64(logged["sig"]).decode("ascii"))  # base64 of the base64 signature text
    return _Recorded(PAYLOAD, *hashed, signature, _pem_der(_b64(logged["publicKey"])))


def _intoto_v1(spec: dict[str, Any]) -> _Recorded:
    content = _dict(spec["content"])
    envelope_algorithm, envelope_hash = _hex_hash(content["hash"])
    if envelope_algorithm != "sha256":
        raise ValueError("intoto envelope hash is not sha256")
    hashed = _hex_hash(content["payloadHash"])
    return _Recorded(PAYLOAD, *hashed, None, _pem_der(_b64(spec["publicKey"])), envelope_hash)


def _hashedrekord_v2(spec: dict[str, Any]) -> _Recorded:
    inner = _dict(spec["hashedRekordV002"])
    hashed, signature = _b64_hash(inner["data"]), _dict(inner["signature"])
    return _Recorded(MESSAGE, *hashed, _b64(signature["content"]), _v2_verifier(_dict(signature["verifier"])))


def _dsse_v2(spec: dict[str, Any]) -> _Recorded:
    inner = _dict(spec["dsseV002"])
    hashed, logged = _b64_hash(inner["payloadHash"]), _only(inner["signatures"])
    return _Recorded(PAYLOAD, *hashed, _b64(logged["content"]), _v2_verifier(_dict(logged["verifier"])))


_READERS = {
    ("hashedrekord", "0.0.1"): _hashedrekord_v1,
    ("dsse", "0.0.1"): _dsse_v1,
    ("intoto", "0.0.2"): _intoto_v2,
    ("intoto", "0.0.1"): _intoto_v1,
    ("hashedrekord", "0.0.2"): _hashedrekord_v2,
    ("dsse", "0.0.2"): _dsse_v2,
}


def _hex_hash(hashed: object) -> tuple[str, bytes]:
    """A Rekor v1 hash object, `{algorithm, value}` with the value in hex."""
    fields = _dict(hashed)
    return _algorithm(fields["algorithm"]), _hex(fields["value"])


def _b64_hash(hashed: object) -> tuple[str, bytes]:
    """A Rekor v2 hash object, `{algorithm, digest}` with the digest in base64."""
    fields = _dict(hashed)
    return _algorithm(fields["algorithm"]), _b64(fields["digest"])


def _v2_verifier(verifier: dict[str, Any]) -> bytes:
    present = [k for k in ("x509Certificate", "publicKey") if k in verifier]
    if len(present) != 1:
        raise ValueError("verifier needs exactly one of x509Certificate or publicKey")
    raw = _b64(_dict(verifier[present[0]])["rawBytes"])
    return raw if present[0] == "x509Certificate" else _spki(raw)


def _pem_der(pem: bytes) -> bytes:
    """The DER inside one PEM block: a certificate as is, a public key as SubjectPublicKeyInfo."""
    lines = pem.decode("ascii").strip().splitlines()
    if len(lines) < 3 or lines[0] not in _PEM_TYPES or lines[-1] != lines[0].replace("BEGIN", "END"):
        raise ValueError("logged key or certificate is not one PEM certificate or public key")
    der = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    return der if "CERTIFICATE" in lines[0] else _spki(der)


_PEM_TYPES = ("-----BEGIN CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----")


def _spki(der: bytes) -> bytes:
    try:
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("logged public key cannot be read") from exc
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _only(signatures: object) -> dict[str, Any]:
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise ValueError("entry must record exactly one signature")
    return _dict(signatures[0])


def _algorithm(name: object) -> str:
    if not isinstance(name, str) or name not in _ALGORITHMS:
        raise ValueError(f"unsupported hash algorithm {str(name)[:20]!r}")
    return _ALGORITHMS[name]


def _hex(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("hash is not a hex string")
    return bytes.fromhex(text)


def _b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not base64") from exc


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object")
    return value
