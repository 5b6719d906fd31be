"""Transparency evidence, checked offline: Rekor entries and their proofs, SCTs and RFC 3161 timestamps.

Proofs over bytes only: Merkle inclusion proofs (RFC 9162), signed-note checkpoints (C2SP), Rekor v1
signed entry timestamps, what a logged entry body says, embedded SCTs (RFC 6962) and RFC 3161 timestamp
tokens. Nothing here decides what is trusted: keys arrive as objects with a `verify` method (the
`SignatureCheck` protocol), logs are looked up through callables the caller hands in, and the trusted
root lives in `app.core.trust`. Pure: standard library and `cryptography`, no I/O.
"""
