"""Verification: turn signature material into one format-neutral value (`entities.SignedEntity`) and
verify it in numbered steps (`entity_checks`) against a trusted root and the signers a policy trusts.
Imports the trust, transparency and format rooms; never the admission room above it.
"""
