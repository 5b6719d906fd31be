"""The Kubernetes client is reached through one adapter only: one choke point per library, so its
exceptions are mapped to the project's errors in one place."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_kube_adapter_imports_the_kubernetes_client() -> None:
    offenders = [
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if path.parent.name != "kube"
        and any(m == "kubernetes" or m.startswith("kubernetes.") for m in _imported_modules(path))
    ]
    assert offenders == []


def test_only_the_client_module_of_the_adapter_imports_it() -> None:
    kube = [
        p.name
        for p in (APP / "kube").glob("*.py")
        if any(m.startswith("kubernetes") for m in _imported_modules(p))
    ]
    assert kube == ["client.py"]
