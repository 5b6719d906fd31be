"""Rekor-like transparency logs for the private test instance: v1 (ECDSA, SETs) and v2 (Ed25519, no SET).

Each log appends canonical entry bodies, and hands out what a bundle's `tlogEntries[]` (protojson) and
cosign's `dev.sigstore.cosign/bundle` annotation carry: SET over the canonical JSON of body,
integratedTime, logID and logIndex (v1 only); an RFC 6962 audit path for the current tree; and a C2SP
signed-note checkpoint (v1: origin `<host> - <tree id>`, ECDSA key ID = SHA-256(SPKI)[:4]; v2: origin and
signer = host, Ed25519 key ID = SHA-256(host ‖ 0x0A ‖ 0x01 ‖ key)[:4]).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.support.sigstore import merkle_tree
from tests.support.sigstore.fulcio import spki


def canonical(document: dict[str, Any]) -> bytes:
    """RFC 8785 for these documents (ASCII strings and integers): sorted keys, no whitespace."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Entry:
    """One appended entry: where it is and what the log said about it."""

    index: int  # in the tree
    body: bytes
    kind: str
    version: str
    integrated_time: int
    set: bytes | None


@dataclass
class RekorV1Log:
    """A Rekor v1 log shard: P-256 key, SETs, global index = `shard_offset` + tree index."""

    host: str = "rekor.private.test"
    tree_id: int = 4242
    shard_offset: int = 1000
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    entries: list[Entry] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(spki(self.key.public_key())).digest()

    def append(self, body: bytes, kind: str, version: str, integrated_time: int) -> Entry:
        index = len(self.entries)
        promise = {
            "body": b64(body),
            "integratedTime": integrated_time,
            "logID": self.log_id.hex(),
            "logIndex": self.shard_offset + index,
        }
        signature = self.key.sign(canonical(promise), ec.ECDSA(hashes.SHA256()))
        entry = Entry(index, body, kind, version, integrated_time, signature)
        self.entries.append(entry)
        return entry

    def checkpoint(self, size: int, root: bytes) -> str:
        text = f"{self.host} - {self.tree_id}\n{size}\n{b64(root)}\n"
        signature = self.key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
        return text + f"\n\u2014 {self.host} {b64(self.log_id[:4] + signature)}\n"

    def bundle_entry(self, entry: Entry) -> dict[str, Any]:
        """The entry as a bundle's `tlogEntries[]` item, with a proof for the tree as it is now."""
        document = _bundle_entry(self, entry, self.shard_offset + entry.index)
        document["integratedTime"] = str(entry.integrated_time)
        assert entry.set is not None
        document["inclusionPromise"] = {"signedEntryTimestamp": b64(entry.set)}
        return document

    def annotation(self, entry: Entry) -> str:
        """cosign's `dev.sigstore.cosign/bundle` layer annotation (SET only, no proof)."""
        assert entry.set is not None
        payload = {
            "body": b64(entry.body),
            "integratedTime": entry.integrated_time,
            "logIndex": self.shard_offset + entry.index,
            "logID": self.log_id.hex(),
        }
        return json.dumps({"SignedEntryTimestamp": b64(entry.set), "Payload": payload})


@dataclass
class RekorV2Log:
    """A Rekor v2 (rekor-tiles) log: Ed25519 key, no SETs, no integrated time."""

    host: str = "log2099.rekor.private.test"
    key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    entries: list[Entry] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def log_id(self) -> bytes:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(self.host.encode() + b"\n\x01" + raw).digest()

    def append(self, body: bytes, kind: str = "hashedrekord", version: str = "0.0.2") -> Entry:
        entry = Entry(len(self.entries), body, kind, version, 0, None)
        self.entries.append(entry)
        return entry

    def checkpoint(self, size: int, root: bytes) -> str:
        text = f"{self.host}\n{size}\n{b64(root)}\n"
        signature = self.key.sign(text.encode())
        return text + f"\n\u2014 {self.host} {b64(self.log_id[:4] + signature)}\n"

    def bundle_entry(self, entry: Entry) -> dict[str, Any]:
        return _bundle_entry(self, entry, entry.index)


def _bundle_entry(log: RekorV1Log | RekorV2Log, entry: Entry, global_index: int) -> dict[str, Any]:
    leaves = [merkle_tree.leaf(e.body) for e in log.entries]
    root = merkle_tree.root(leaves)
    return {
        "logIndex": str(global_index),
        "logId": {"keyId": b64(log.log_id)},
        "kindVersion": {"kind": entry.kind, "version": entry.version},
        "inclusionProof": {
            "logIndex": str(entry.index),
            "rootHash": b64(root),
            "treeSize": str(len(leaves)),
            "hashes": [b64(h) for h in merkle_tree.path(entry.index, leaves)],
            "checkpoint": {"envelope": log.checkpoint(len(leaves), root)},
        },
        "canonicalizedBody": b64(entry.body),
    }
