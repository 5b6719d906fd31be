"""How `sigwebhook verify` reports: a readable text block per image, or stable JSON.

JSON (`--output json`) is a list with one object per image argument, in argument order; its keys are
documented in `JSON_HELP` (also printed by `sigwebhook verify --help`). They are stable: keys may be
added, never removed or renamed.
No key material, password or credential ever reaches this output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.references import ImageRef
from app.core.verification.log_checks import VerifiedLogEntry
from app.core.verification.verdicts import TLOG_NOTICE, ImageVerdict, VerifiedSignature

JSON_HELP = """--output json prints a list, one object per IMAGE in order, with the keys:
  image         the argument as given
  reference     the normalised reference (null if it did not parse)
  digest        the manifest digest that was verified (null if none was resolved)
  verified      true when a signature verified under one of the keys or identities
  signatures    [{format, key, fingerprint, identity, issuer, location, tlog, timestamps}] that
                verified; key: the key's name or the identity flags; fingerprint: the signing
                key's (for keyless, the key in the certificate); identity and issuer from the
                certificate for keyless (null for a key); tlog: [{url, log_id, log_index,
                integrated_time}] the verified log entries; timestamps: RFC 3161 times
  rejected      [{format, location, reason}] found but not counted
  error         why the image could not be checked at all (null otherwise)
  tlog_checked  true when every counted signature needed a verified log entry (false with
                --insecure-ignore-tlog)
format is cosign-v2-sig-tag or cosign-v3-bundle; fingerprint is sha256:<hex of the SPKI DER>;
times are RFC 3339 UTC; integrated_time is null for a Rekor v2 entry (its time is a timestamp)."""


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


def to_json(outcomes: list[ImageOutcome], tlog_required: bool = True) -> str:
    """The documented JSON report (see the module docstring)."""
    return json.dumps([_as_dict(o, tlog_required) for o in outcomes], indent=2)


def _as_dict(outcome: ImageOutcome, tlog_required: bool) -> dict[str, Any]:
    verdict = outcome.verdict
    return {
        "image": outcome.image,
        "reference": str(outcome.reference) if outcome.reference is not None else None,
        "digest": str(verdict.digest) if verdict is not None else None,
        "verified": outcome.ok,
        "signatures": [_signature(v) for v in (verdict.verified if verdict is not None else ())],
        "rejected": [
            {"format": r.format.value, "location": r.location, "reason": r.reason}
            for r in (verdict.rejected if verdict is not None else ())
        ],
        "error": outcome.error,
        "tlog_checked": tlog_required,
    }


def _signature(signature: VerifiedSignature) -> dict[str, Any]:
    identity = signature.identity
    return {
        "format": signature.format.value,
        "key": signature.signer_label,
        "fingerprint": signature.key_fingerprint,
        "identity": identity.subject if identity is not None else None,
        "issuer": identity.issuer if identity is not None else None,
        "location": signature.location,
        "tlog": [
            {
                "url": entry.log_url,
                "log_id": entry.log_id,
                "log_index": entry.log_index,
                "integrated_time": _time(entry.integrated_time),
            }
            for entry in signature.log_entries
        ],
        "timestamps": [_time(t.moment) for t in signature.times if t.from_timestamp],
    }


def to_text(outcomes: list[ImageOutcome], tlog_required: bool = True) -> str:
    """A block per image, then the transparency-log notice when no log entry was required."""
    blocks = "\n\n".join(_block(o) for o in outcomes)
    return blocks + ("\n" if tlog_required else f"\n\nNote: {TLOG_NOTICE}.\n")


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
            lines.append(f"  ok: {v.format.describe()} signed by {_signer(v)}")
            lines.extend(f"    transparency log: {_entry(entry)}" for entry in v.log_entries)
            lines.extend(
                f"    timestamp: {_time(t.moment)} ({t.source.removeprefix('timestamp ')})"
                for t in v.times
                if t.from_timestamp
            )
        for r in verdict.rejected:
            lines.append(f"  rejected: {r.format.describe()} at {r.location}: {r.reason}")
        if not verdict.verified and not verdict.rejected:
            lines.append(f"  reason: {verdict.reason()}")
    return "\n".join(lines)


def _signer(signature: VerifiedSignature) -> str:
    if signature.identity is not None:
        return f"{signature.identity.subject} (issuer {signature.identity.issuer}, keyless)"
    fingerprint = signature.key_fingerprint or ""
    return f"{signature.signer_label} ({fingerprint_label(fingerprint)})"


def _entry(entry: VerifiedLogEntry) -> str:
    when = f" integrated {_time(entry.integrated_time)}" if entry.integrated_time else ""
    return f"{entry.log_url} (log ID {entry.log_id[:16]}…) index {entry.log_index}{when}"


def _time(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def fingerprint_label(fingerprint: str) -> str:
    """`sha256:<hex>` → `SHA256:<hex>`, the way `ssh-keygen -l` and this CLI show key fingerprints."""
    algorithm, _, hex_part = fingerprint.partition(":")
    return f"{algorithm.upper()}:{hex_part}"
