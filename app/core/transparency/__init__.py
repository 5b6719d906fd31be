"""Transparency: transparency-log evidence and timestamps, checked offline as proofs over bytes.

`merkle` (RFC 9162 inclusion proofs), `checkpoints` (C2SP signed notes), `entries` (a log entry as both
layouts carry it, and the Rekor v1 SET), `bodies` (what a logged entry says was signed, by whom),
`scts` (embedded SCTs, RFC 6962), `timestamps` (RFC 3161 tokens). Nothing here decides what is trusted:
keys arrive as objects with a `verify` method (`checks.SignatureCheck`), logs are looked up through
callables the caller hands in, and trusted roots live in `trust`.
"""
