"""Content digests (`sha256:<hex>`), as the OCI image spec defines them.

A `Digest` can only be built valid. It knows how to check bytes against itself and how to spell the
cosign tag names derived from it. No I/O here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes

from app.core.errors import InvalidDigest

# OCI image spec, "Digests": registered algorithms and their encoded lengths.
_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
MAX_DIGEST_CHARS = max(len(algorithm) + 1 + length for algorithm, length in _HEX_LENGTHS.items())
_HEX = re.compile(r"[0-9a-f]+")
# Sigstore's protobuf `HashAlgorithm` names (bundles, Rekor v2 entries) → the hashlib names above.
PROTOBUF_HASH_NAMES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}
# The hashlib names above → `cryptography`'s hash objects (for signatures over a prehashed digest).
HASH_OBJECTS: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


@dataclass(frozen=True, order=True)
class Digest:
    """A validated `algorithm:hex` digest (lower-case hex)."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        expected = _HEX_LENGTHS.get(self.algorithm)
        if expected is None:
            raise InvalidDigest(f"unsupported digest algorithm {self.algorithm!r}")
        if len(self.hex) != expected or not _HEX.fullmatch(self.hex):
            raise InvalidDigest(
                f"invalid {self.algorithm} digest: expected {expected} lower-case hex characters"
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `sha256:<64 hex>`; raise `InvalidDigest` with a clear reason otherwise."""
        if not isinstance(text, str) or ":" not in text:
            raise InvalidDigest(f"invalid digest {_shorten(text)!r}: expected algorithm:hex")
        algorithm, _, hex_part = text.partition(":")
        return cls(algorithm, hex_part)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of `data`."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def matches(self, data: bytes) -> bool:
        """True when `data` hashes to this digest."""
        return hashlib.new(self.algorithm, data).hexdigest() == self.hex

    @property
    def tag_prefix(self) -> str:
        """`sha256-<hex>`: the referrers fallback tag (OCI distribution spec, "Referrers Tag Schema")."""
        return f"{self.algorithm}-{self.hex}"

    @property
    def signature_tag(self) -> str:
        """`sha256-<hex>.sig`: where cosign v2 stores signatures (cosign SIGNATURE_SPEC)."""
        return f"{self.tag_prefix}.sig"

    def short(self) -> str:
        """`sha256:abcdef123456` for humans."""
        return f"{self.algorithm}:{self.hex[:12]}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _shorten(text: object, limit: int = 80) -> str:
    value = str(text)
    return value if len(value) <= limit else value[:limit] + "…"
