"""Verification: one image against trusted signers.

`verifier` resolves the digest and runs both cosign layouts' checks: `cosign_v2` (signatures under the
`sha256-<hex>.sig` tag) and `cosign_v3` (sigstore bundles attached as OCI 1.1 referrers), which share
`context` (bounded registry reads, key matching). `verdicts` is what they found.

Keyless and transparency-log verification works on one format-neutral value, `entities.SignedEntity`
(`bundle_entities` builds it from a sigstore bundle), verified in numbered steps by `entity_checks`:
signature, `log_checks`, `time_checks`, `keyless_checks`, policy. `artifacts` does that for a file or a
digest (`sigwebhook verify-bundle`).
"""
