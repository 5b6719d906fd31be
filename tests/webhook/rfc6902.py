"""A small RFC 6902 JSON Patch applier for the tests, written from the RFC (not from `app.core.admission.pinning`).

Supports what an admission webhook may send: `add`, `remove`, `replace` and `test`, with RFC 6901
JSON pointers (`~1` is `/`, `~0` is `~`; `-` appends to an array on `add`). A failed `test` or a path
that does not exist raises `PatchError`, as the API server refuses such a patch. The document is
copied first: the input is never changed.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(Exception):
    """The patch does not apply to the document."""


class JsonPatchTestFailed(PatchError):
    """A `test` operation found another value (RFC 6902 §4.6)."""


def apply_patch(document: Any, patch: list[dict[str, Any]]) -> Any:
    """The document with every operation of `patch` applied in order (RFC 6902 §3: all or nothing)."""
    result = copy.deepcopy(document)
    for operation in patch:
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(path, str):
            raise PatchError(f"operation without a path: {operation}")
        if op == "test":
            if _get(result, path) != operation["value"]:
                raise JsonPatchTestFailed(f"{path} is {_get(result, path)!r}, not {operation['value']!r}")
        elif op == "replace":
            _get(result, path)  # must exist (§4.3)
            result = _put(result, path, copy.deepcopy(operation["value"]), insert=False)
        elif op == "add":
            result = _put(result, path, copy.deepcopy(operation["value"]), insert=True)
        elif op == "remove":
            parent, key = _parent(result, path)
            _get(result, path)
            del parent[key]
        else:
            raise PatchError(f"unsupported operation {op!r}")
    return result


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"a JSON pointer starts with '/': {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _step(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f"{path}: no member {token!r}")
        return node[token]
    if isinstance(node, list):
        if not token.isdigit() or (len(token) > 1 and token[0] == "0") or int(token) >= len(node):
            raise PatchError(f"{path}: no index {token!r}")
        return node[int(token)]
    raise PatchError(f"{path}: cannot descend into {type(node).__name__}")


def _get(document: Any, path: str) -> Any:
    node = document
    for token in _tokens(path):
        node = _step(node, token, path)
    return node


def _parent(document: Any, path: str) -> tuple[Any, Any]:
    tokens = _tokens(path)
    if not tokens:
        raise PatchError("the whole document has no parent")
    node = document
    for token in tokens[:-1]:
        node = _step(node, token, path)
    last = tokens[-1]
    return node, (int(last) if isinstance(node, list) and last.isdigit() else last)


def _put(document: Any, path: str, value: Any, insert: bool) -> Any:
    if path == "":
        return value
    parent, key = _parent(document, path)
    if isinstance(parent, list):
        if key == "-" and insert:
            parent.append(value)
        elif not isinstance(key, int) or key > len(parent) or (not insert and key == len(parent)):
            raise PatchError(f"{path}: no index {key!r}")
        elif insert:
            parent.insert(key, value)
        else:
            parent[key] = value
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise PatchError(f"{path}: cannot set a member of {type(parent).__name__}")
    return document
