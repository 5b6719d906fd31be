"""How `sigwebhook verify` reports: a readable text block per image, or stable JSON.

JSON (`--output json`) is a list with one object per image argument, in argument order; its keys are
documented in `JSON_HELP` (also printed by `sigwebhook verify --help`). They are stable: keys may be
added, never removed or renamed.
No key material, password or credential ever reaches this output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.core.references import ImageRef
from app.core.verification.verdicts import TLOG_NOTICE, ImageVerdict

JSON_HELP = """--output json prints a list, one object per IMAGE in order, with the keys:
  image         the argument as given
  reference     the normalised reference (null if it did not parse)
  digest        the manifest digest that was verified (null if none was resolved)
  verified      true when a signature verified under one of the keys
  signatures    [{format, key, fingerprint, location}] that verified
  rejected      [{format, location, reason}] found but not counted
  error         why the image could not be checked at all (null otherwise)
  tlog_checked  always false: transparency-log proofs are not checked
format is cosign-v2-sig-tag or cosign-v3-bundle; fingerprint is sha256:<hex of the SPKI DER>."""


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image argument: a verdict, or an error that stopped the check."""

    image: str
    reference: ImageRef | None = None
    verdict: ImageVerdict | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.verdict is not None and self.verdict.ok

    def failure(self) -> str:
        """One line saying why this image is not verified (empty when it is)."""
        if self.ok:
            return ""
        if self.error is not None:
            return self.error
        return self.verdict.reason() if self.verdict is not None else "not checked"


def to_json(outcomes: list[ImageOutcome]) -> str:
    """The documented JSON report (see the module docstring)."""
    return json.dumps([_as_dict(o) for o in outcomes], indent=2)


def _as_dict(outcome: ImageOutcome) -> dict[str, Any]:
    verdict = outcome.verdict
    return {
        "image": outcome.image,
        "reference": str(outcome.reference) if outcome.reference is not None else None,
        "digest": str(verdict.digest) if verdict is not None else None,
        "verified": outcome.ok,
        "signatures": [
            {
                "format": v.format.value,
                "key": v.key_name,
                "fingerprint": v.key_fingerprint,
                "location": v.location,
            }
            for v in (verdict.verified if verdict is not None else ())
        ],
        "rejected": [
            {"format": r.format.value, "location": r.location, "reason": r.reason}
            for r in (verdict.rejected if verdict is not None else ())
        ],
        "error": outcome.error,
        "tlog_checked": False,
    }


def to_text(outcomes: list[ImageOutcome]) -> str:
    """A block per image, then the transparency-log notice."""
    blocks = [_block(o) for o in outcomes]
    return "\n\n".join(blocks) + f"\n\nNote: {TLOG_NOTICE}.\n"


def _block(outcome: ImageOutcome) -> str:
    verdict = outcome.verdict
    title = str(outcome.reference) if outcome.reference is not None else outcome.image
    status = "VERIFIED" if outcome.ok else "NOT VERIFIED"
    lines = [f"{title}: {status}"]
    if verdict is not None:
        lines.append(f"  digest: {verdict.digest}")
    if outcome.error is not None:
        lines.append(f"  error: {outcome.error}")
    if verdict is not None:
        for v in verdict.verified:
            lines.append(
                f"  ok: {v.format.describe()} signed by {v.key_name} ({fingerprint_label(v.key_fingerprint)})"
            )
        for r in verdict.rejected:
            lines.append(f"  rejected: {r.format.describe()} at {r.location}: {r.reason}")
        if not verdict.verified and not verdict.rejected:
            lines.append(f"  reason: {verdict.reason()}")
    return "\n".join(lines)


def fingerprint_label(fingerprint: str) -> str:
    """`sha256:<hex>` → `SHA256:<hex>`, the way `ssh-keygen -l` and this CLI show key fingerprints."""
    algorithm, _, hex_part = fingerprint.partition(":")
    return f"{algorithm.upper()}:{hex_part}"
