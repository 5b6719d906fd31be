"""Tag-scoped patterns over HTTPS against the real registry: an exemption or a
warn-mode policy written for one tag does not admit `repo:tag@<any digest>`, which the runtime would
pull by digest; such a reference falls to the other policies or `unmatched`.

The webhook is the real uvicorn server built by `build_webhook`, asked over real TLS; the manifests
are pushed to the real `docker-registry`, none of them signed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy
from tests.fixtures.webhook import RunningWebhook
from tests.webhook.reviews import review

UNMATCHED = "no policy matches this image (unmatched: deny)"


@pytest.fixture(scope="module")
def repos(plain_registry: TestRegistry) -> dict[str, str]:
    """`debug` and `app` repositories with an unsigned `v1`/`canary` tag and an unsigned `other`
    manifest each (`<repo> other`: its digest)."""
    found: dict[str, str] = {}
    for name, tag in (("debug", "v1"), ("app", "canary")):
        repo = f"scopes/tools/{name}"
        push_image(plain_registry, repo, tag, content=f"{name} {tag}".encode())
        found[name], found[f"{name} tag"] = f"{plain_registry.host}/{repo}", tag
        found[f"{name} other"] = str(push_image(plain_registry, repo, "other", content=f"{name} x".encode()))
    return found


@pytest.fixture(scope="module")
def webhook(
    repos: dict[str, str],
    key_pairs: dict[str, KeyPair],
    plain_registry: TestRegistry,
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> RunningWebhook:
    return module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "unmatched": "deny",
            "exemptImages": [f"{repos['debug']}:v1"],
            "policies": [
                key_policy("canary", f"{repos['app']}:canary", key_pairs["ecdsa-p256"], mode="warn")
            ],
        }
    )


def answer(webhook: RunningWebhook, image: str) -> dict[str, Any]:
    reply = webhook.post(review([("c", image)]))
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    return response


def test_a_tag_scoped_exemption_admits_its_tag(webhook: RunningWebhook, repos: dict[str, str]) -> None:
    assert answer(webhook, f"{repos['debug']}:v1")["allowed"] is True
    assert webhook.audit[-1]["images"][0]["verdict"] == "exempt"


def test_a_tag_scoped_exemption_does_not_admit_another_manifest_named_by_digest(
    webhook: RunningWebhook, repos: dict[str, str]
) -> None:
    image = f"{repos['debug']}:v1@{repos['debug other']}"
    response = answer(webhook, image)
    assert response["allowed"] is False
    assert response["status"]["message"] == f"spec.containers[0] (c) {image}: {UNMATCHED}"
    assert webhook.audit[-1]["images"][0]["verdict"] == "denied"


def test_a_tag_scoped_warn_policy_does_not_admit_another_manifest_named_by_digest(
    webhook: RunningWebhook, repos: dict[str, str]
) -> None:
    warned = answer(webhook, f"{repos['app']}:canary")
    assert warned["allowed"] is True and len(warned["warnings"]) == 1  # unsigned: admitted with a warning
    image = f"{repos['app']}:canary@{repos['app other']}"
    response = answer(webhook, image)
    assert response["allowed"] is False and "warnings" not in response
    assert response["status"]["message"] == f"spec.containers[0] (c) {image}: {UNMATCHED}"
