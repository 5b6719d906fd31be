"""Trust: what a signature must chain to.

`keys` (public keys: parsing, fingerprints, signature checks) and `secretkeys` (keys that live in
Kubernetes Secrets: their references and the immutable snapshot the admission path reads); `roots`
(Sigstore trusted roots: logs, CAs, CT logs, timestamp authorities) and `builtin` (the public-good root
shipped as package data, never fetched); `certificates` (chains checked at a past moment);
`identities` (Fulcio identities and the patterns that match them); `signers` (the `TrustedSigner`
protocol that keys and keyless identities both implement).
"""
