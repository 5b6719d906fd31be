"""Signing: cosign key files (`keyfiles`), keys that sign in cosign's schemes (`signingkey`), and writing
signatures to a registry in the cosign v2 and v3 layouts (`signer`).

Used by `sigwebhook sign` and `generate-key-pair` only; the admission path never signs. Registry access
goes through the core's ports, so this package never imports httpx itself.
"""
