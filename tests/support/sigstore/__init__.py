"""A private Sigstore instance the tests create: Fulcio-like CA, CT log, Rekor v1/v2 logs and a TSA.

Independent of the code under test: it *writes* what sigwebhook *reads* (certificates with embedded
SCTs, entry bodies, SETs, Merkle audit paths, signed checkpoints, RFC 3161 tokens made by openssl) and
emits its trusted root JSON. Nothing here is trusted outside the tests.
"""
