"""Formats: the bytes cosign writes, parsed into frozen values and built for `sign`.

`simplesigning` (cosign v2 payloads), `dsse` (DSSE envelopes, in-toto statements), `bundles` (sigstore
bundles), `layouts` (the registry objects that hold them: `.sig` manifests, referrer manifests and
the referrers fallback index). Parsing only: no signature checks, no I/O.
"""
