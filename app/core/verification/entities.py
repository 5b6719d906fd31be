"""The signed entity: what any signature layout boils down to, and what verification works on.

As sigstore-go's `SignedEntity`: a signature, what it signs, the key hint or certificate that
comes with it, transparency-log entries and RFC 3161 timestamps. A sigstore bundle (`bundle_entities`)
and a cosign v2 `.sig` layer with its annotations both become one, so every check is written once.
Nothing in it is trusted yet. Pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.core.formats.dsse import Envelope
from app.core.transparency.entries import LogEntry

MAX_LOG_ENTRIES = 10  # sigstore-go caps these too; a bundle carries one
MAX_TIMESTAMPS = 10


@dataclass(frozen=True)
class SignedMessage:
    """A signature over bytes known by their digest: a blob, or cosign's simple-signing payload."""

    algorithm: str  # hashlib name of `digest`
    digest: bytes
    data: bytes | None = field(default=None, repr=False)  # the bytes themselves, when at hand


@dataclass(frozen=True)
class SignedEntity:
    """A signature and everything that came with it."""

    content: SignedMessage | Envelope
    signature: bytes
    certificate: x509.Certificate | None = field(default=None, compare=False)  # the leaf, if keyless
    log_entries: tuple[LogEntry, ...] = ()
    timestamps: tuple[bytes, ...] = ()  # DER RFC 3161 TimeStampResp

    @property
    def signed_bytes(self) -> bytes | None:
        """What the signature covers, when the bytes are at hand (a DSSE signature covers the PAE)."""
        if isinstance(self.content, Envelope):
            return self.content.signed_bytes()
        return self.content.data

    def message_digest(self, algorithm: str = "sha256") -> bytes:
        """The hash of what the signature covers (what hashedrekord entries record)."""
        if isinstance(self.content, SignedMessage):
            if self.content.algorithm == algorithm:
                return self.content.digest
            if self.content.data is None:
                return b""  # another algorithm than the one the digest was given in: cannot match
            return hashlib.new(algorithm, self.content.data).digest()
        return hashlib.new(algorithm, self.content.signed_bytes()).digest()

    def payload_digest(self, algorithm: str = "sha256") -> bytes | None:
        """The hash of the DSSE payload (what dsse/intoto entries record); None for a message."""
        if isinstance(self.content, Envelope):
            return hashlib.new(algorithm, self.content.payload).digest()
        return None

    def certificate_der(self) -> bytes | None:
        return self.certificate.public_bytes(Encoding.DER) if self.certificate else None
