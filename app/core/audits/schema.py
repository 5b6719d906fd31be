"""The audit record's JSON Schema, and a validator for the part of JSON Schema it is written in.

The schema (`audit-record.schema.json`, package data read like a module's constants) is the audit
line's contract: the webhook's tests validate every line it writes against it (with the reference
`jsonschema` implementation too) and `sigwebhook audit log` validates every line it reads. Readers
treat objects as open (a field added within a version is ignored); `closed=True` treats every object
as `additionalProperties: false`, the check writers are held to: every field written is documented.

Only the keywords the schema uses are implemented (JSON Schema 2020-12 semantics): `$ref` to `#/$defs/…`,
`type`, `enum`, `const`, `properties`, `required`, `additionalProperties` (boolean), `items`,
`maxItems`, `minimum`, `pattern`, `oneOf`; `$schema`, `$id`, `$defs`, `title` and `description` are
annotations. A schema using any other keyword is refused when loaded, so none is silently ignored.
Pure: no I/O beyond reading the packaged file once.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

SCHEMA_FILE = "audit-record.schema.json"

_CHECKED = frozenset(
    {"$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "items", "maxItems",
     "minimum", "pattern", "oneOf"}
)  # fmt: skip
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})
_TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int,),
}
MAX_ERRORS = 5  # a record's first errors say enough; a broken line does not get a page


class SchemaValidator:
    """Validates JSON values (as `json.loads` returns them) against one schema document."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        _check_keywords(schema, "#")
        self._root = schema

    def errors(self, value: Any, closed: bool = False) -> list[str]:
        """What is wrong with `value`, as `path: problem` lines (empty when it is valid)."""
        found: list[str] = []
        self._check(self._root, value, "", closed, found)
        return found[:MAX_ERRORS]

    def _check(self, schema: Mapping[str, Any], value: Any, path: str, closed: bool, out: list[str]) -> None:
        if "$ref" in schema:
            self._check(self._resolve(schema["$ref"]), value, path, closed, out)
        where = path or "(record)"
        if "type" in schema and not _has_type(value, schema["type"]):
            out.append(f"{where}: {_show(value)} is not of type {_types_text(schema['type'])}")
            return
        if "const" in schema and not _same(value, schema["const"]):
            out.append(f"{where}: {_show(value)} is not {_show(schema['const'])}")
        if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
            out.append(f"{where}: {_show(value)} is not one of {', '.join(map(_show, schema['enum']))}")
        if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{where}: {_show(value)} does not have the expected form")
        if _is_number(value) and "minimum" in schema and value < schema["minimum"]:
            out.append(f"{where}: {value} is less than {schema['minimum']}")
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                out.append(f"{where}: more than {schema['maxItems']} items")
            if "items" in schema:
                for index, item in enumerate(value):
                    self._check(schema["items"], item, f"{path}[{index}]", closed, out)
        if isinstance(value, dict):
            self._check_object(schema, value, path, closed, out)
        if "oneOf" in schema:
            self._check_one_of(schema["oneOf"], value, where, path, closed, out)

    def _check_object(
        self, schema: Mapping[str, Any], value: dict[str, Any], path: str, closed: bool, out: list[str]
    ) -> None:
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                out.append(f"{_join(path, name)}: missing")
        for name, item in value.items():
            if name in properties:
                self._check(properties[name], item, _join(path, name), closed, out)
            elif "properties" in schema and (closed or schema.get("additionalProperties", True) is False):
                out.append(f"{_join(path, name)}: not a field of this record")

    def _check_one_of(
        self,
        options: list[Mapping[str, Any]],
        value: Any,
        where: str,
        path: str,
        closed: bool,
        out: list[str],
    ) -> None:
        outcomes: list[list[str]] = []
        for option in options:
            errors: list[str] = []
            self._check(option, value, path, closed, errors)
            outcomes.append(errors)
        matched = sum(1 for errors in outcomes if not errors)
        if matched == 1:
            return
        if matched > 1:
            out.append(f"{where}: matches more than one form")
            return
        # None matched: the closest form's errors say the most (a refused record's, for a refused line).
        closest: list[str] = min(outcomes, key=len)
        out.extend(closest)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        node: Any = self._root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return dict(node)


@functools.cache
def audit_schema() -> SchemaValidator:
    """The validator of the audit record schema shipped with this sigwebhook."""
    return SchemaValidator(audit_schema_document())


def audit_schema_document() -> dict[str, Any]:
    """The audit record schema as a JSON document (for tools and tests)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _check_keywords(schema: Any, where: str) -> None:
    """Refuse a schema with a keyword this validator does not implement (it would be ignored)."""
    if not isinstance(schema, Mapping):
        return
    unknown = set(schema) - _CHECKED - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema {where} uses keywords this validator does not check: {sorted(unknown)}")
    for name, sub in schema.get("properties", {}).items():
        _check_keywords(sub, f"{where}/properties/{name}")
    for name, sub in schema.get("$defs", {}).items():
        _check_keywords(sub, f"{where}/$defs/{name}")
    if "items" in schema:
        _check_keywords(schema["items"], f"{where}/items")
    for index, sub in enumerate(schema.get("oneOf", ())):
        _check_keywords(sub, f"{where}/oneOf/{index}")
    ref = schema.get("$ref")
    if ref is not None and not str(ref).startswith("#/$defs/"):
        raise ValueError(f"schema {where}: only references to #/$defs/ are resolved, not {ref}")


def _has_type(value: Any, wanted: str | list[str]) -> bool:
    names = [wanted] if isinstance(wanted, str) else wanted
    for name in names:
        if isinstance(value, bool) and name not in ("boolean",):
            continue  # JSON Schema: true is not a number, though Python's bool is an int
        if isinstance(value, _TYPES[name]):
            return True
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
    return False


def _same(value: Any, expected: Any) -> bool:
    if _is_number(value) and _is_number(expected):
        return bool(value == expected)  # JSON Schema compares numbers by value: 1.0 is 1
    return type(value) is type(expected) and bool(value == expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _types_text(wanted: str | list[str]) -> str:
    return wanted if isinstance(wanted, str) else " or ".join(wanted)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"
