"""Holding audit lines to their schema: every line the webhook writes in a test is checked here.

Two validators must both accept it: sigwebhook's own (`app.core.audits.schema`, the one
`sigwebhook audit log` reads with) and the reference implementation (`jsonschema`, Draft 2020-12),
each with every object closed (`additionalProperties: false`): a field the webhook writes must be
documented in the schema. Readers keep the objects open; writers are held to the closed form.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import jsonschema

from app.core.audits.schema import audit_schema, audit_schema_document


def closed(schema: Any) -> Any:
    """A copy of `schema` in which every object that lists its properties accepts no other."""
    result = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(result)
    return result


@functools.cache
def reference_validator(closed_objects: bool = True) -> jsonschema.Draft202012Validator:
    document = audit_schema_document()
    schema = closed(document) if closed_objects else document
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def checked_audit_line(line: str) -> dict[str, Any]:
    """The record on `line`, after both validators accepted it in the closed form."""
    record: dict[str, Any] = json.loads(line)
    ours = audit_schema().errors(record, closed=True)
    assert ours == [], f"audit line does not match its schema: {ours}\n{line}"
    theirs = [e.message for e in reference_validator().iter_errors(record)]
    assert theirs == [], f"audit line does not match its schema (jsonschema): {theirs}\n{line}"
    return record
