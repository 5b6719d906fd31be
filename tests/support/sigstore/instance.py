"""The private Sigstore instance: CA + CT log + Rekor v1 and v2 logs + TSA, its trusted root, and signers.

`PrivateSigstore.trusted_root()` is the instance's `trusted_root.json`; `sign_blob` / `sign_statement`
produce sigstore bundles (as dicts, so tests can tamper with them) the way cosign and sigstore-python
write them: keyless (leaf certificate) or with a key, logged in Rekor v1 (SET + proof + checkpoint) or
Rekor v2 (proof + checkpoint, with an RFC 3161 timestamp), or not logged at all.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.formats.dsse import pae
from tests.support.sigstore.fulcio import CertificateAuthority, CtLog, spki
from tests.support.sigstore.logs import Entry, RekorV1Log, RekorV2Log, b64, canonical
from tests.support.sigstore.tsa import TimestampAuthority

UTC = datetime.UTC
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class Signing:
    """Who signs and when: a fresh key, and for keyless the certificate Fulcio issued for it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate | None

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verifier_pem(self) -> bytes:
        """What a Rekor v1 body records: the certificate PEM, else the public key PEM."""
        if self.certificate is not None:
            return self.certificate.public_bytes(serialization.Encoding.PEM)
        return self.public_pem

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, ec.ECDSA(hashes.SHA256()))


@dataclass
class PrivateSigstore:
    """One private instance; `directory` holds the TSA's openssl files."""

    directory: Path
    ca: CertificateAuthority = field(default_factory=CertificateAuthority)
    ct: CtLog = field(default_factory=CtLog)
    rekor: RekorV1Log = field(default_factory=RekorV1Log)
    rekor2: RekorV2Log = field(default_factory=RekorV2Log)

    def __post_init__(self) -> None:
        self.tsa = TimestampAuthority(self.directory / "tsa")

    # --- the trusted root -------------------------------------------------------------------

    def trusted_root(self, *, log_start: str = "2020-01-01T00:00:00Z", log_end: str | None = None) -> bytes:
        """This instance's trusted root JSON (protobuf-specs `TrustedRoot`, protojson)."""

        def valid(start: str, end: str | None = None) -> dict[str, str]:
            return {"start": start, **({"end": end} if end else {})}

        def log(
            url: str, key: bytes, details: str, log_id: bytes, start: str, end: str | None
        ) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(key), "keyDetails": details, "validFor": valid(start, end)},
                "logId": {"keyId": b64(log_id)},
            }

        def chain(certificates: list[x509.Certificate]) -> dict[str, Any]:
            return {
                "certificates": [
                    {"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))} for c in certificates
                ]
            }

        ed_key = self.rekor2.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        document = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                log(
                    self.rekor.url,
                    spki(self.rekor.key.public_key()),
                    "PKIX_ECDSA_P256_SHA_256",
                    self.rekor.log_id,
                    log_start,
                    log_end,
                ),
                log(self.rekor2.url, ed_key, "PKIX_ED25519", self.rekor2.log_id, log_start, log_end),
            ],
            "certificateAuthorities": [
                {
                    "subject": {"commonName": self.ca.name},
                    "uri": "https://fulcio.private.test",
                    "certChain": chain(self.ca.chain),
                    "validFor": valid("2020-01-01T00:00:00Z"),
                }
            ],
            "ctlogs": [
                log(
                    self.ct.url,
                    spki(self.ct.key.public_key()),
                    "PKIX_ECDSA_P256_SHA_256",
                    self.ct.log_id,
                    "2020-01-01T00:00:00Z",
                    None,
                )
            ],
            "timestampAuthorities": [
                {
                    "subject": {"commonName": "private-tsa"},
                    "uri": self.tsa.url,
                    "certChain": chain(self.tsa.chain),
                    "validFor": valid("2020-01-01T00:00:00Z"),
                }
            ],
        }
        return json.dumps(document, indent=1).encode()

    # --- signers ---------------------------------------------------------------------------

    def keyless(
        self,
        subject: str = WORKFLOW,
        issuer: str = GITHUB,
        when: datetime.datetime | None = None,
        ca: CertificateAuthority | None = None,
        ct: CtLog | bool | None = True,
        email: bool = False,
    ) -> Signing:
        """A fresh key with a leaf certificate for `subject` from `issuer`, issued at `when` (default:
        a minute ago), with an SCT from this instance's CT log (`ct=False`: none; or another `CtLog`)."""
        key = ec.generate_private_key(ec.SECP256R1())
        moment = when or datetime.datetime.now(UTC) - datetime.timedelta(minutes=1)
        ct_log = self.ct if ct is True else (ct or None)
        certificate = (ca or self.ca).issue(key.public_key(), subject, issuer, moment, ct_log, email=email)
        return Signing(key, certificate)

    @staticmethod
    def with_key() -> Signing:
        return Signing(ec.generate_private_key(ec.SECP256R1()), None)

    # --- log entries -----------------------------------------------------------------------

    def log_v1(self, body: bytes, kind: str, integrated_time: int | None = None) -> Entry:
        moment = (
            integrated_time if integrated_time is not None else int(datetime.datetime.now(UTC).timestamp())
        )
        return self.rekor.append(body, kind, "0.0.1", moment)

    # --- bundles ---------------------------------------------------------------------------

    def sign_blob(
        self,
        artifact: bytes,
        signing: Signing,
        log: str | None = "v1",
        tsa: bool = False,
        integrated_time: int | None = None,
    ) -> dict[str, Any]:
        """A v0.3 bundle with a `messageSignature` over `artifact` (a hashedrekord entry in `log`)."""
        digest = hashlib.sha256(artifact).digest()
        signature = signing.sign(artifact)
        content = {
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                "signature": b64(signature),
            }
        }
        entries = []
        if log == "v1":
            entry = self.log_v1(
                hashedrekord_v1(digest, signature, signing.verifier_pem()), "hashedrekord", integrated_time
            )
            entries.append(self.rekor.bundle_entry(entry))
        elif log == "v2":
            entries.append(
                self.rekor2.bundle_entry(self.rekor2.append(hashedrekord_v2(digest, signature, signing)))
            )
        return _bundle(signing, entries, [self.tsa.timestamp(signature)] if tsa else [], content)

    def sign_statement(
        self,
        subject_digest: str,
        signing: Signing,
        log: str | None = "v1",
        tsa: bool = False,
        predicate_type: str = "https://sigstore.dev/cosign/sign/v1",
        integrated_time: int | None = None,
    ) -> dict[str, Any]:
        """A v0.3 bundle with a DSSE in-toto statement naming `subject_digest` (`sha256:<hex>`), logged
        as dsse 0.0.1 (v1, at `integrated_time`: default now) or hashedrekord 0.0.2 over the PAE (v2),
        as cosign v3 signs images."""
        algorithm, _, hex_digest = subject_digest.partition(":")
        statement = json.dumps(
            {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"digest": {algorithm: hex_digest}}],
                "predicateType": predicate_type,
                "predicate": {},
            },
            separators=(",", ":"),
        ).encode()
        signature = signing.sign(pae(IN_TOTO, statement))
        envelope = {
            "payload": b64(statement),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": b64(signature)}],
        }
        entries = []
        if log == "v1":
            body = dsse_v1(statement, envelope, signature, signing.verifier_pem())
            entries.append(self.rekor.bundle_entry(self.log_v1(body, "dsse", integrated_time)))
        elif log == "v2":
            digest = hashlib.sha256(pae(IN_TOTO, statement)).digest()
            entries.append(
                self.rekor2.bundle_entry(self.rekor2.append(hashedrekord_v2(digest, signature, signing)))
            )
        return _bundle(
            signing, entries, [self.tsa.timestamp(signature)] if tsa else [], {"dsseEnvelope": envelope}
        )


def hashedrekord_v1(digest: bytes, signature: bytes, verifier_pem: bytes) -> bytes:
    return canonical(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier_pem)}},
            },
        }
    )


def dsse_v1(payload: bytes, envelope: dict[str, Any], signature: bytes, verifier_pem: bytes) -> bytes:
    envelope_hash = hashlib.sha256(json.dumps(envelope, separators=(",", ":")).encode()).hexdigest()
    return canonical(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [{"signature": b64(signature), "verifier": b64(verifier_pem)}],
            },
        }
    )


def hashedrekord_v2(digest: bytes, signature: bytes, signing: Signing) -> bytes:
    if signing.certificate is not None:
        verifier: dict[str, Any] = {
            "x509Certificate": {"rawBytes": b64(signing.certificate.public_bytes(serialization.Encoding.DER))}
        }
    else:
        verifier = {"publicKey": {"rawBytes": b64(spki(signing.key.public_key()))}}
    verifier["keyDetails"] = "PKIX_ECDSA_P256_SHA_256"
    return canonical(
        {
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {
                "hashedRekordV002": {
                    "data": {"algorithm": "SHA2_256", "digest": b64(digest)},
                    "signature": {"content": b64(signature), "verifier": verifier},
                }
            },
        }
    )


def _bundle(
    signing: Signing, entries: list[dict[str, Any]], timestamps: list[bytes], content: dict[str, Any]
) -> dict[str, Any]:
    if signing.certificate is not None:
        material: dict[str, Any] = {
            "certificate": {"rawBytes": b64(signing.certificate.public_bytes(serialization.Encoding.DER))}
        }
    else:
        hint = base64.b64encode(hashlib.sha256(spki(signing.key.public_key())).digest()).decode()
        material = {"publicKey": {"hint": hint}}
    material["tlogEntries"] = entries
    if timestamps:
        material["timestampVerificationData"] = {
            "rfc3161Timestamps": [{"signedTimestamp": b64(t)} for t in timestamps]
        }
    return {"mediaType": BUNDLE_V03, "verificationMaterial": material, **content}


def encode(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle).encode()
