"""The trusted roots shipped inside sigwebhook: `public-good`, the Sigstore production instance.

The file is package data (`public_good_trusted_root.json`, provenance in `PUBLIC-GOOD.md`), read once
through `importlib.resources` like a module's constants: it is part of the code, never fetched.
"""

from __future__ import annotations

import functools
from importlib import resources

from app.core.trust.roots import TrustedRoot, parse_trusted_root

PUBLIC_GOOD = "public-good"
PUBLIC_GOOD_TAKEN = "2025-10-21"  # when the shipped copy last changed upstream (PUBLIC-GOOD.md)
_FILE = "public_good_trusted_root.json"


@functools.cache
def public_good() -> TrustedRoot:
    """The built-in Sigstore public-good production trusted root."""
    return parse_trusted_root(resources.files(__package__).joinpath(_FILE).read_bytes(), PUBLIC_GOOD)
