"""Merkle tree inclusion proofs, as RFC 6962 §2.1 and RFC 9162 §2.1.3 define them (SHA-256).

A transparency log commits to its entries with one root hash; an inclusion proof is the list of sibling
hashes from an entry's leaf up to that root. Leaves and interior nodes hash with different prefixes
(0x00, 0x01) so a leaf can never pose as a node. Rekor v1 and v2 both hash this way; the leaf is the
entry's canonical body. Pure functions; a proof that does not compute the expected root is a `str`
problem, never an exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

HASH_SIZE = 32
MAX_PROOF_HASHES = 64  # a tree of 2**64 leaves needs no more


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True)
class InclusionProof:
    """That the leaf at `index` is in the tree of `tree_size` leaves whose root is `root_hash`."""

    index: int
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]  # bottom-up, as RFC 9162 lists them


def inclusion_problem(proof: InclusionProof, leaf: bytes) -> str | None:
    """Why `proof` does not show that `leaf` (a leaf hash) is in its tree (None when it does)."""
    if not 0 <= proof.index < proof.tree_size:
        return f"inclusion proof index {proof.index} is outside a tree of {proof.tree_size} leaves"
    if len(proof.hashes) > MAX_PROOF_HASHES or any(len(h) != HASH_SIZE for h in proof.hashes):
        return "inclusion proof hashes are not SHA-256 hashes"
    root = _root_from_proof(proof.index, proof.tree_size, leaf, proof.hashes)
    if root is None:
        return "inclusion proof has the wrong number of hashes for its tree"
    if root != proof.root_hash:
        return "inclusion proof does not lead to the tree's root hash"
    return None


def _root_from_proof(index: int, size: int, leaf: bytes, hashes: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2, step by step: the root the proof leads to, or None if it is malformed."""
    fn, sn, result = index, size - 1, leaf
    for sibling in hashes:
        if sn == 0:
            return None  # more hashes than the path to the root has nodes
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:  # skip levels where this node has no right sibling
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return result if sn == 0 else None
