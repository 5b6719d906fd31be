"""Trust: what a signature must chain to.

`keys` (public keys: parsing, fingerprints, signature checks) and `secretkeys` (keys that live in
Kubernetes Secrets: their references and the immutable snapshot the admission path reads).
"""
