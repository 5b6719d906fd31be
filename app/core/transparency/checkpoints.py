"""Checkpoints: a log's signed statement of its tree size and root hash, in the C2SP signed-note format.

Formats (https://github.com/C2SP/C2SP/blob/main/signed-note.md and tlog-checkpoint.md):

    <origin>\\n<tree size>\\n<base64 root hash>\\n[<extension line>\\n…]\\n
    — <key name> <base64(4-byte key ID ‖ signature)>\\n        (one line per signature, U+2014)

The signed message is the text up to and including its last newline, before the blank line. Key IDs:
Rekor v2 Ed25519 logs hash `name ‖ 0x0A ‖ 0x01 ‖ key`; Rekor v1 ECDSA logs use the first four bytes of
SHA-256(SPKI DER); the trusted root's log ID starts with those four bytes either way, so callers pass
the expected key ID in. Signatures by other keys (witness cosignatures, unknown signers) are ignored, as
the spec says; a matching line whose signature does not verify rejects the note. Pure.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from app.core.errors import SignatureFormatError
from app.core.transparency.checks import SignatureCheck

SIGNATURE_PREFIX = "\u2014 "
KEY_ID_SIZE = 4
MAX_NOTE_BYTES = 1 << 16
MAX_SIGNATURES = 100


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the signer's name, its 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A parsed, not yet verified checkpoint."""

    origin: str
    tree_size: int
    root_hash: bytes
    text: bytes  # what the signatures sign
    signatures: tuple[NoteSignature, ...]

    def problem(self, name: str, key_id: bytes, key: SignatureCheck, match_name: bool = True) -> str | None:
        """Why no signature by (`name`, `key_id`) verifies (None when one does). With `match_name`
        False only the key ID selects lines: Rekor v1 signs as its host name, which a trusted root's
        URL need not spell the same way, and its key ID does not depend on the name."""
        lines = [s for s in self.signatures if s.key_id == key_id and (not match_name or s.name == name)]
        if not lines:
            return f"checkpoint carries no signature by the log ({name})"
        if not all(key.verify(line.signature, self.text) for line in lines):
            return "checkpoint signature by the log does not verify"
        return None


def parse_checkpoint(envelope: str) -> Checkpoint:
    """Parse a signed checkpoint note; `SignatureFormatError` saying what is malformed."""
    if len(envelope) > MAX_NOTE_BYTES or not _printable(envelope):
        raise SignatureFormatError("checkpoint is too long or has control characters")
    text, separator, block = envelope.rpartition("\n\n")
    if not separator or not block.endswith("\n"):
        raise SignatureFormatError("checkpoint has no signature block")
    body = text + "\n"
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0]:
        raise SignatureFormatError("checkpoint needs an origin, a tree size and a root hash")
    origin, size_text, root_text, *_extensions = lines  # extension lines are signed, not read
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise SignatureFormatError("checkpoint tree size is not a decimal number")
    root = _base64(root_text, "checkpoint root hash")
    if len(root) != 32:
        raise SignatureFormatError("checkpoint root hash is not a SHA-256 hash")
    signatures = tuple(_signature(line) for line in block[:-1].split("\n"))
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureFormatError("checkpoint has too many signatures")
    return Checkpoint(origin, int(size_text), root, body.encode(), signatures)


def _signature(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise SignatureFormatError("checkpoint signature line does not start with an em dash")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not name or " " in encoded or "+" in name:
        raise SignatureFormatError("checkpoint signature line is not '— <name> <signature>'")
    blob = _base64(encoded, "checkpoint signature")
    if len(blob) <= KEY_ID_SIZE:
        raise SignatureFormatError("checkpoint signature is too short")
    return NoteSignature(name, blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:])


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SignatureFormatError(f"{what} is not base64") from exc


def _printable(text: str) -> bool:
    """No control characters but newlines (signed-note: valid UTF-8 text)."""
    return all(ch == "\n" or ch.isprintable() for ch in text)
