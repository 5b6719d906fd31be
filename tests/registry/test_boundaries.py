"""httpx is reached through one choke point: the registry transport sends, its error module maps.

No other module imports httpx; only `RegistryTransport` builds clients or calls httpx, and one function
of it sends requests, so auth, limits, redirects and error mapping cannot be bypassed.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
SENDING_METHODS = {"stream", "request", "send", "get", "head", "post", "put", "patch", "delete", "options"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports_httpx(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "httpx" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "httpx":
            return True
    return False


def _httpx_calls(tree: ast.Module) -> list[str]:
    """`httpx.X(...)` calls, by the name of X."""
    return [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "httpx"
    ]


def test_only_the_transport_and_its_error_mapping_import_httpx() -> None:
    importers = sorted(str(p.relative_to(APP)) for p in APP.rglob("*.py") if _imports_httpx(_tree(p)))
    assert importers == ["registry/errors.py", "registry/transport.py"]


def test_only_the_transport_calls_httpx_and_the_error_mapping_only_inspects_it() -> None:
    callers = sorted(str(p.relative_to(APP)) for p in APP.rglob("*.py") if _httpx_calls(_tree(p)))
    assert callers == ["registry/transport.py"]
    assert sorted(set(_httpx_calls(_tree(APP / "registry" / "transport.py")))) == ["AsyncClient", "Timeout"]


def test_one_function_of_the_transport_sends_requests() -> None:
    tree = _tree(APP / "registry" / "transport.py")
    senders = sorted(
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SENDING_METHODS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "client"
    )
    assert senders == ["_send"]
