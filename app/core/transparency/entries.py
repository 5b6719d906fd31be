"""A transparency-log entry as both signature layouts carry it, and the Rekor v1 signed entry timestamp.

One format-neutral value (`LogEntry`) for a sigstore bundle's `tlogEntries[]` (protobuf-specs
`TransparencyLogEntry`) and for cosign v2's `dev.sigstore.cosign/bundle` layer annotation (docs/formats.md#rekor-bundle-shape): the entry body exactly as logged, where it sits in the log, and the log's promises about it.

The SET (`inclusionPromise`, Rekor v1 only) is the log's signature over the RFC 8785 canonical JSON of
`{body, integratedTime, logID, logIndex}` (cosign `VerifySET`, sigstore-go `tlog.VerifySET`): body is the
standard base64 of the logged bytes, logID lower-case hex, logIndex the *global* index. For these four
members (ASCII strings, integers) RFC 8785 is sorted keys, no whitespace, plain decimals. Pure.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from app.core.transparency.checks import SignatureCheck
from app.core.transparency.merkle import InclusionProof

REKOR_V2_KINDS = ("hashedrekord", "dsse")
REKOR_V2_VERSION = "0.0.2"


@dataclass(frozen=True)
class LogEntry:
    """One entry of a transparency log, with whatever proofs came with it (nothing verified yet)."""

    log_id: bytes  # the trusted root's `logId.keyId` of the log that holds it
    log_index: int  # the global index (what the SET signs)
    body: bytes  # the canonical entry body, exactly as logged (the Merkle leaf)
    integrated_time: int = 0  # Unix seconds; 0 when the log records none (Rekor v2)
    kind: str | None = None  # as the carrier declares it (bundle `kindVersion`); None when it does not
    version: str | None = None
    signed_entry_timestamp: bytes | None = None  # Rekor v1 SET
    inclusion_proof: InclusionProof | None = None  # its index is the index in the (shard's) tree
    checkpoint: str | None = None  # the signed note for the proof's tree

    def set_message(self) -> bytes:
        """What the SET signs: the canonical JSON of body, integratedTime, logID and logIndex."""
        document = {
            "body": base64.b64encode(self.body).decode(),
            "integratedTime": self.integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": self.log_index,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def is_rekor_v2(kind: str | None, version: str | None) -> bool:
    """Rekor v2 (rekor-tiles) logs only `hashedrekord`/`dsse` 0.0.2, and never signs a SET."""
    return kind in REKOR_V2_KINDS and version == REKOR_V2_VERSION


def set_problem(entry: LogEntry, log_key: SignatureCheck) -> str | None:
    """Why the entry's SET is not the log's signature over it (None when it is)."""
    if entry.signed_entry_timestamp is None:
        return "log entry has no signed entry timestamp"
    if not log_key.verify(entry.signed_entry_timestamp, entry.set_message()):
        return "signed entry timestamp (SET) does not verify with the log's key"
    return None
