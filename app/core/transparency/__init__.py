"""Transparency: offline checks of transparency-log evidence.

`rekor`: a Rekor v1 signed entry timestamp (SET) and whether the logged entry is about the signature
at hand.
"""
