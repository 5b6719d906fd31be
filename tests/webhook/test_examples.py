"""`examples/kubernetes/webhook-configurations.yaml` (the reference for the chart) registers exactly
the kinds the server reviews, on the endpoints it serves."""

from __future__ import annotations

from typing import Any

import yaml

from app.core.admission.workloads import POD_SPEC_PATHS
from tests.fixtures.signing import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "kubernetes" / "webhook-configurations.yaml"


def configurations() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc}


def resources(webhook: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (group, resource)
        for rule in webhook["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_the_validating_webhook_covers_every_kind_with_a_pod_template_and_nothing_else() -> None:
    (webhook,) = configurations()["ValidatingWebhookConfiguration"]["webhooks"]
    expected = {(group, kind.lower() + "s") for group, kind in POD_SPEC_PATHS} | {
        ("", "pods/ephemeralcontainers")
    }
    assert resources(webhook) == expected
    assert webhook["clientConfig"]["service"]["path"] == "/validate"
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in webhook["rules"])


def test_the_mutating_webhook_pins_pods_on_mutate_and_is_reinvoked_if_needed() -> None:
    (webhook,) = configurations()["MutatingWebhookConfiguration"]["webhooks"]
    assert resources(webhook) == {("", "pods"), ("", "pods/ephemeralcontainers")}
    assert webhook["clientConfig"]["service"]["path"] == "/mutate"
    assert webhook["reinvocationPolicy"] == "IfNeeded" and webhook["sideEffects"] == "None"


def test_both_webhooks_select_the_same_namespaces() -> None:
    docs = configurations()
    selectors = [doc["webhooks"][0]["namespaceSelector"] for doc in docs.values()]
    assert selectors[0] == selectors[1]
    names = selectors[0]["matchExpressions"][0]
    assert names["key"] == "kubernetes.io/metadata.name" and "kube-system" in names["values"]
