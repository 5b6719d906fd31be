"""What sigwebhook trusts: public keys, Sigstore trusted roots (logs, CAs, CT logs, timestamp authorities),
Fulcio certificate chains and keyless identities, and the one protocol a trusted signer implements.

Pure: standard library and `cryptography`; the built-in public-good root is package data read through
`importlib.resources`, never fetched.
"""
