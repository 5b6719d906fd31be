"""`POST /mutate` (digest pinning) and warn mode over HTTPS against the real registry.

The JSON patch the webhook returns is decoded from base64 and applied as the API server applies it,
with `tests/webhook/rfc6902.py` (an RFC 6902 applier written from the RFC, independent of
`app.core.admission.pinning`); the patched object is then sent to `/validate`, as the API server does after
every mutating webhook.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.webhook import rfc6902
from tests.webhook.reviews import review, sample, workload_review

KEY = "ecdsa-p256"
# repo → signed?  (team: pinDigest default podsOnly; gitops: true; nopin: false; audit: mode warn)
REPOS = {
    "team/signed": True,
    "team/unsigned": False,
    "gitops/signed": True,
    "nopin/signed": True,
    "audit/signed": True,
    "audit/unsigned": False,
}


class Images(dict[str, str]):
    """repo → `host/mutate/repo:1`; `digest(repo)` → the pushed manifest digest."""

    digests: dict[str, str]

    def digest(self, repo: str) -> str:
        return self.digests[repo]

    def pinned(self, repo: str) -> str:
        return self[repo].rsplit(":", 1)[0] + "@" + self.digest(repo)


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> Images:
    found = Images()
    found.digests = {}
    for repo, signed in REPOS.items():
        digest = push_image(plain_registry, f"mutate/{repo}", "1", content=repo.encode())
        found[repo] = f"{plain_registry.host}/mutate/{repo}:1"
        found.digests[repo] = str(digest)
        if signed:
            sign_image(found[repo], key_pairs[KEY], ["--insecure-registry", plain_registry.host])
    return found


@pytest.fixture(scope="module")
def webhook(
    images: Images,
    key_pairs: dict[str, KeyPair],
    plain_registry: TestRegistry,
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> RunningWebhook:
    key, under = key_pairs[KEY], f"{plain_registry.host}/mutate"
    return module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "policies": [
                key_policy("team", f"{under}/team/**", key),
                key_policy("gitops", f"{under}/gitops/**", key, pinDigest=True),
                key_policy("nopin", f"{under}/nopin/**", key, pinDigest=False),
                key_policy("audit", f"{under}/audit/**", key, mode="warn"),
            ],
        }
    )


def mutate(webhook: RunningWebhook, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `/mutate` response and its decoded JSON patch ([] when there is none)."""
    reply = webhook.post(body, path="/mutate")
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    assert response["uid"] == body["request"]["uid"] and response["allowed"] is True
    if "patch" not in response:
        assert "patchType" not in response
        return response, []
    assert response["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"], validate=True))
    return response, patch


def validate(webhook: RunningWebhook, body: dict[str, Any]) -> dict[str, Any]:
    reply = webhook.post(body)
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    return response


def test_a_signed_pod_is_pinned_and_the_pinned_pod_then_passes_validation(
    webhook: RunningWebhook, images: Images
) -> None:
    body = review([("app", images["team/signed"])], init=[("setup", images["gitops/signed"])])
    _, patch = mutate(webhook, body)
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    assert patched["spec"]["containers"][0]["image"] == images.pinned("team/signed")
    assert patched["spec"]["initContainers"][0]["image"] == images.pinned("gitops/signed")
    record = webhook.audit[-1]
    assert (record["webhook"], record["decision"]) == ("mutate", "allow")
    assert [i["pinned"] for i in record["images"]] == [
        images.pinned("team/signed"),
        images.pinned("gitops/signed"),
    ]
    body["request"]["object"] = patched
    assert validate(webhook, body)["allowed"] is True
    assert [i["digest"] for i in webhook.audit[-1]["images"]] == [
        images.digest("team/signed"),
        images.digest("gitops/signed"),
    ]


def test_an_already_pinned_image_is_left_as_is(webhook: RunningWebhook, images: Images) -> None:
    body = review([("app", images.pinned("team/signed"))])
    assert mutate(webhook, body)[1] == []
    assert validate(webhook, body)["allowed"] is True


def test_an_unsigned_image_gets_no_patch_and_validation_denies_it(
    webhook: RunningWebhook, images: Images
) -> None:
    body = review([("app", images["team/unsigned"]), ("ok", images["team/signed"])])
    _, patch = mutate(webhook, body)
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    assert [c["image"] for c in patched["spec"]["containers"]] == [
        images["team/unsigned"],
        images.pinned("team/signed"),
    ]
    body["request"]["object"] = patched
    response = validate(webhook, body)
    assert response["allowed"] is False and images["team/unsigned"] in response["status"]["message"]


def test_a_policy_with_pin_digest_false_is_never_pinned(webhook: RunningWebhook, images: Images) -> None:
    assert mutate(webhook, review([("app", images["nopin/signed"])]))[1] == []


@pytest.mark.parametrize("kind", ["apps/v1 Deployment", "batch/v1beta1 CronJob", "v1 ReplicationController"])
def test_workloads_are_pinned_only_under_pin_digest_true(
    webhook: RunningWebhook, images: Images, kind: str
) -> None:
    pods_only = workload_review(kind, [("app", images["team/signed"])])
    assert mutate(webhook, pods_only)[1] == []
    body = workload_review(kind, [("app", images["gitops/signed"])])
    _, patch = mutate(webhook, body)
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    spec = patched["spec"]["jobTemplate"]["spec"] if kind.endswith("CronJob") else patched["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"] == images.pinned("gitops/signed")


def test_warn_mode_admits_with_warnings_and_the_audit_says_it_would_have_denied(
    webhook: RunningWebhook, images: Images
) -> None:
    body = review([("app", images["audit/unsigned"]), ("ok", images["audit/signed"])])
    response = validate(webhook, body)
    assert response["allowed"] is True and "status" not in response
    assert response["warnings"] == [
        f'spec.containers[0] (app) {images["audit/unsigned"]}: no signature verified by the keys of policy "audit" '
        "(no signatures found)"
    ]
    record = webhook.audit[-1]
    assert (record["decision"], record["would_deny"]) == ("allow", True)
    assert [i["verdict"] for i in record["images"]] == ["warned", "verified"]


def test_warnings_of_a_warned_workload_name_the_workload(webhook: RunningWebhook, images: Images) -> None:
    response = validate(webhook, workload_review("apps/v1 StatefulSet", [("app", images["audit/unsigned"])]))
    assert response["allowed"] is True
    assert response["warnings"] == [
        f"StatefulSet db: spec.template.spec.containers[0] (app) {images['audit/unsigned']}: "
        'no signature verified by the keys of policy "audit" (no signatures found)'
    ]


def test_an_enforced_failure_still_denies_next_to_a_warned_one(
    webhook: RunningWebhook, images: Images
) -> None:
    body = review([("a", images["audit/unsigned"]), ("b", images["team/unsigned"])])
    response = validate(webhook, body)
    assert response["allowed"] is False and len(response["warnings"]) == 1
    assert response["status"]["message"].startswith("spec.containers[1] (b)")


def test_a_malformed_review_to_mutate_is_a_400(webhook: RunningWebhook) -> None:
    reply = webhook.post(b"{not json", path="/mutate")
    assert reply.status_code == 400 and "malformed AdmissionReview" in reply.json()["error"]


def test_mutate_allows_without_a_patch_what_it_does_not_review(
    webhook: RunningWebhook, images: Images
) -> None:
    body = review([("app", images["team/signed"])], operation="DELETE")
    response, patch = mutate(webhook, body)
    assert patch == [] and "warnings" not in response


def test_an_ephemeral_container_added_by_kubectl_debug_on_1_20_is_pinned_in_its_own_object(
    webhook: RunningWebhook, images: Images
) -> None:
    body = sample("ephemeralcontainers-update-kube-apiserver-1.20.json")
    body["request"]["namespace"] = "default"
    new, old = body["request"]["object"], body["request"]["oldObject"]
    # the object is where the request says
    new["metadata"]["namespace"] = old["metadata"]["namespace"] = "default"
    old["ephemeralContainers"] = [dict(c, image=images["team/signed"]) for c in old["ephemeralContainers"]]
    new["ephemeralContainers"] = [dict(c, image=images["team/signed"]) for c in new["ephemeralContainers"]]
    new["ephemeralContainers"][-1]["image"] = images["gitops/signed"]
    _, patch = mutate(webhook, body)
    patched = rfc6902.apply_patch(new, patch)
    assert [c["image"] for c in patched["ephemeralContainers"]] == [
        *[images["team/signed"]] * (len(new["ephemeralContainers"]) - 1),
        images.pinned("gitops/signed"),
    ]
