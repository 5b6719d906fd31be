"""Strict JSON: read a document only when every reader of it would read the same thing.

Signatures cover bytes, but the decision reads the parsed document; if two parsers read one signed
payload as two different images, a signature made for one admits the other. Cosign, containers/image,
go-containerregistry and sigstore-go parse with Go, whose `encoding/json` matches object keys to struct
fields ignoring case and keeps the *last* of repeated keys; Python's `json` keeps exact keys, guesses
UTF-16/UTF-32 from bytes, accepts `NaN`/`Infinity`, and raises `RecursionError` (not `ValueError`) on
deeply nested input. So `loads` refuses (raising `StrictJsonError`, a `ValueError`):

- bytes that are not UTF-8, or start with a byte order mark (RFC 8259 §8.1);
- an object with two keys that are equal ignoring case (exact duplicates included);
- `NaN`, `Infinity` and `-Infinity`, which are not JSON;
- nesting deep enough to exhaust the parser's recursion (no real document comes close).

Syntax errors raise `ValueError` as `json.loads` does. Adapters map both to their own typed error;
the core's parsers use `parse_document`/`parse_object`, which raise `SignatureFormatError`. No I/O.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.errors import SignatureFormatError


class StrictJsonError(ValueError):
    """Well-formed JSON that is refused because readers could disagree on it (the message says why)."""


def loads(data: bytes | str) -> Any:
    """Parse `data` as strict JSON (see the module docstring); raise `ValueError` saying why not."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise StrictJsonError("nested too deeply") from exc


def parse_document(data: bytes | str, what: str) -> Any:
    """`loads`, with failures as `SignatureFormatError` naming `what` (e.g. "payload is not JSON")."""
    try:
        return loads(data)
    except StrictJsonError as exc:
        raise SignatureFormatError(f"{what} is not strict JSON ({exc})", f"{what}: {exc}") from exc
    except ValueError as exc:
        raise SignatureFormatError(f"{what} is not JSON", f"{what}: {exc}") from exc


def parse_object(data: bytes | str, what: str) -> dict[str, Any]:
    """`parse_document`, and the document must be a JSON object."""
    document = parse_document(data, what)
    if not isinstance(document, dict):
        raise SignatureFormatError(f"{what} is not a JSON object")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        folded = key.casefold()
        if folded in seen:
            shown = key if len(key) <= 60 else key[:60] + "…"
            raise StrictJsonError(f"duplicate key {shown!r}")
        seen.add(folded)
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number")
