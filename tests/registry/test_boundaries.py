"""httpx is reached through one choke point: the registry transport sends (its answers module reads what
comes back), its pools module builds the clients it sends with (on a network backend of its own,
`app.registry.sockets`), its error module maps.

No other module imports httpx; only the pools build clients, and one function of the transport sends
requests, so auth, limits, redirects and error mapping cannot be bypassed.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
SENDING_METHODS = {"stream", "request", "send", "get", "head", "post", "put", "patch", "delete", "options"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module, package: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == package for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package:
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


def test_only_the_transport_its_answers_pools_and_error_mapping_import_httpx() -> None:
    importers = sorted(str(p.relative_to(APP)) for p in APP.rglob("*.py") if _imports(_tree(p), "httpx"))
    assert importers == [
        "registry/answers.py",
        "registry/errors.py",
        "registry/pools.py",
        "registry/transport.py",
    ]


def test_only_the_pools_and_their_network_backend_reach_below_httpx() -> None:
    importers = sorted(str(p.relative_to(APP)) for p in APP.rglob("*.py") if _imports(_tree(p), "httpcore"))
    assert importers == ["registry/pools.py", "registry/sockets.py"]


def test_only_the_pools_build_clients_and_the_error_mapping_only_inspects_httpx() -> None:
    callers = sorted(str(p.relative_to(APP)) for p in APP.rglob("*.py") if _httpx_calls(_tree(p)))
    assert callers == ["registry/pools.py", "registry/transport.py"]
    assert sorted(set(_httpx_calls(_tree(APP / "registry" / "pools.py")))) == [
        "AsyncClient",
        "AsyncHTTPTransport",
    ]
    assert sorted(set(_httpx_calls(_tree(APP / "registry" / "transport.py")))) == ["Timeout"]


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
