"""Merkle inclusion proofs, checkpoints, SETs and entry bodies, each against independently made data."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.core.errors import SignatureFormatError
from app.core.transparency.bodies import MESSAGE, PAYLOAD, parse_body
from app.core.transparency.checkpoints import parse_checkpoint
from app.core.transparency.entries import LogEntry, set_problem
from app.core.transparency.merkle import InclusionProof, inclusion_problem, leaf_hash
from app.core.trust.keys import trusted_key_from
from tests.support.sigstore import merkle_tree
from tests.support.sigstore.logs import RekorV1Log, RekorV2Log

CASES = Path(__file__).parents[1] / "assets" / "sigstore-conformance" / "bundle-verify"


def proof_for(index: int, size: int) -> tuple[InclusionProof, bytes]:
    leaves = [merkle_tree.leaf(b"entry %d" % i) for i in range(size)]
    proof = InclusionProof(index, size, merkle_tree.root(leaves), tuple(merkle_tree.path(index, leaves)))
    return proof, leaves[index]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_every_leaf_of_trees_of_many_sizes_is_proven_included(size: int) -> None:
    for index in range(size):
        proof, leaf = proof_for(index, size)
        assert inclusion_problem(proof, leaf) is None


def test_a_proof_with_any_hash_flipped_or_the_wrong_leaf_fails() -> None:
    proof, leaf = proof_for(5, 13)
    for position in range(len(proof.hashes)):
        hashes = list(proof.hashes)
        hashes[position] = bytes([hashes[position][0] ^ 1]) + hashes[position][1:]
        tampered = InclusionProof(proof.index, proof.tree_size, proof.root_hash, tuple(hashes))
        assert inclusion_problem(tampered, leaf) == "inclusion proof does not lead to the tree's root hash"
    assert inclusion_problem(proof, leaf_hash(b"another entry")) is not None


def test_malformed_proofs_are_refused_before_hashing() -> None:
    proof, leaf = proof_for(3, 8)
    too_long = InclusionProof(3, 8, proof.root_hash, (*proof.hashes, bytes(32)))
    assert "wrong number of hashes" in (inclusion_problem(too_long, leaf) or "")
    too_short = InclusionProof(3, 8, proof.root_hash, proof.hashes[:-1])
    assert "wrong number of hashes" in (inclusion_problem(too_short, leaf) or "")
    assert "outside a tree" in (
        inclusion_problem(InclusionProof(8, 8, proof.root_hash, proof.hashes), leaf) or ""
    )
    assert "not SHA-256" in (
        inclusion_problem(InclusionProof(3, 8, proof.root_hash, (b"short",)), leaf) or ""
    )


def test_the_conformance_invalid_inclusion_proof_does_not_compute_its_root() -> None:
    document = json.loads((CASES / "invalid-inclusion-proof_fail" / "bundle.sigstore.json").read_text())
    entry = document["verificationMaterial"]["tlogEntries"][0]
    raw = entry["inclusionProof"]
    proof = InclusionProof(
        int(raw["logIndex"]),
        int(raw["treeSize"]),
        base64.b64decode(raw["rootHash"]),
        tuple(base64.b64decode(h) for h in raw["hashes"]),
    )
    assert inclusion_problem(proof, leaf_hash(base64.b64decode(entry["canonicalizedBody"]))) is not None


def test_rekor_v1_and_v2_checkpoints_verify_with_their_log_key_only() -> None:
    v1, v2 = RekorV1Log(), RekorV2Log()
    v1_key, v2_key = trusted_key_from(v1.key.public_key(), "v1"), trusted_key_from(v2.key.public_key(), "v2")
    first = parse_checkpoint(v1.checkpoint(7, bytes(32)))
    assert (first.origin, first.tree_size, first.root_hash) == (f"{v1.host} - {v1.tree_id}", 7, bytes(32))
    assert first.problem(v1.host, v1.log_id[:4], v1_key, match_name=False) is None
    second = parse_checkpoint(v2.checkpoint(3, bytes(32)))
    assert second.problem(v2.host, v2.log_id[:4], v2_key) is None
    assert second.problem("other.host", v2.log_id[:4], v2_key) is not None  # name must match for v2
    assert second.problem(v2.host, v1.log_id[:4], v2_key) is not None


def test_unknown_signature_lines_are_ignored_but_a_bad_one_by_the_log_rejects() -> None:
    log = RekorV2Log()
    key = trusted_key_from(log.key.public_key(), "log")
    note = log.checkpoint(3, bytes(32))
    witness = ed25519.Ed25519PrivateKey.generate().sign(b"whatever")
    cosigned = note + "\u2014 witness.example " + base64.b64encode(b"wxyz" + witness).decode() + "\n"
    assert parse_checkpoint(cosigned).problem(log.host, log.log_id[:4], key) is None
    forged = note + f"\u2014 {log.host} " + base64.b64encode(log.log_id[:4] + bytes(64)).decode() + "\n"
    assert parse_checkpoint(forged).problem(log.host, log.log_id[:4], key) == (
        "checkpoint signature by the log does not verify"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("origin\n3\n" + base64.b64encode(bytes(32)).decode() + "\n", "no signature block"),
        ("\n3\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 a AAAAAAA=\n", "needs an origin"),
        ("o\n03\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 a AAAAAAA=\n", "tree size"),
        ("o\n3\nnot base64\n\n\u2014 a AAAAAAA=\n", "not base64"),
        ("o\n3\n" + base64.b64encode(bytes(31)).decode() + "\n\n\u2014 a AAAAAAA=\n", "not a SHA-256"),
        ("o\n3\n" + base64.b64encode(bytes(32)).decode() + "\n\n- a AAAAAAA=\n", "em dash"),
        ("o\r\n3\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 a AAAAAAA=\n", "control characters"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, reason: str) -> None:
    with pytest.raises(SignatureFormatError, match=reason):
        parse_checkpoint(text)


def test_the_set_signs_the_canonical_json_of_body_time_log_id_and_global_index() -> None:
    log = RekorV1Log()
    entry = log.append(b'{"kind":"x"}', "hashedrekord", "0.0.1", 1700000000)
    logged = LogEntry(
        log.log_id, log.shard_offset + entry.index, entry.body, 1700000000, signed_entry_timestamp=entry.set
    )
    assert logged.set_message() == (
        b'{"body":"eyJraW5kIjoieCJ9","integratedTime":1700000000,"logID":"'
        + log.log_id.hex().encode()
        + b'","logIndex":1000}'
    )
    key = trusted_key_from(log.key.public_key(), "log")
    assert set_problem(logged, key) is None
    shifted = LogEntry(log.log_id, entry.index, entry.body, 1700000000, signed_entry_timestamp=entry.set)
    assert set_problem(shifted, key) is not None  # the tree index is not what the SET signs
    other = trusted_key_from(ec.generate_private_key(ec.SECP256R1()).public_key(), "other")
    assert set_problem(logged, other) is not None


@pytest.mark.parametrize(
    ("case", "kind", "digest_of"),
    [
        ("happy-path-v0.3", "hashedrekord", MESSAGE),
        ("happy-path-intoto-in-dsse-v3", "dsse", PAYLOAD),
        ("intoto-with-custom-trust-root", "intoto", PAYLOAD),
        ("rekor2-happy-path", "hashedrekord", MESSAGE),
    ],
)
def test_entry_bodies_of_each_kind_are_read(case: str, kind: str, digest_of: str) -> None:
    document = json.loads((CASES / case / "bundle.sigstore.json").read_text())
    logged = parse_body(
        base64.b64decode(document["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"])
    )
    assert (logged.kind, logged.digest_of, logged.algorithm) == (kind, digest_of, "sha256")
    assert logged.signature and len(logged.digest) == 32
    signature = (
        document.get("messageSignature", {}).get("signature")
        or document["dsseEnvelope"]["signatures"][0]["sig"]
    )
    assert logged.signature == base64.b64decode(signature)


def test_entry_bodies_of_other_kinds_or_with_several_signatures_are_refused() -> None:
    with pytest.raises(SignatureFormatError, match="unsupported log entry kind rekord"):
        parse_body(b'{"apiVersion":"0.0.1","kind":"rekord","spec":{}}')
    two = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(b"").hexdigest()},
            "signatures": [{"signature": "AA==", "verifier": "AA=="}] * 2,
        },
    }
    with pytest.raises(SignatureFormatError, match="malformed dsse"):
        parse_body(json.dumps(two).encode())
    with pytest.raises(SignatureFormatError):
        parse_body(
            b'{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{},"Kind":"dsse"}'
        )  # readers disagree
