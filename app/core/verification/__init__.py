"""Verification: one image against trusted signers.

`verifier` resolves the digest and runs both cosign layouts' checks: `cosign_v2` (signatures under the
`sha256-<hex>.sig` tag) and `cosign_v3` (sigstore bundles attached as OCI 1.1 referrers), which share
`context` (bounded registry reads, entity checks per trust group). `trust_groups` is what one
verification trusts (signers under a trusted root and requirements); `verdicts` is what they found.

Both layouts become one format-neutral value, `entities.SignedEntity` (`layer_entities` builds it from a
`.sig` layer and its annotations, `bundle_entities` from a sigstore bundle), verified in numbered
steps by `entity_checks`: signature, `log_checks`, `time_checks`, `keyless_checks`, policy.
`artifacts` does that for a file or a digest (`sigwebhook verify-bundle`).
"""
