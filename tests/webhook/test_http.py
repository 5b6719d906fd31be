"""The webhook over real HTTPS: endpoints, malformed reviews, the response shape and the audit line.

No registry is needed here: the pods use images that are exempt, unmatched or in skipped namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.signing import KeyPair, key_policy
from tests.fixtures.webhook import RunningWebhook
from tests.webhook.reviews import review, sample

Start = Callable[[dict[str, Any]], RunningWebhook]


def config(key: KeyPair, **extra: Any) -> dict[str, Any]:
    return {
        "policies": [key_policy("prod", "registry.example.com/**", key)],
        "exemptImages": ["registry.k8s.io/pause:*"],
        "skipNamespaces": ["kube-system"],
        **extra,
    }


@pytest.fixture
def webhook(start_webhook: Start, key_pairs: dict[str, KeyPair]) -> RunningWebhook:
    return start_webhook(config(key_pairs["ecdsa-p256"]))


def test_healthz_and_readyz_answer_over_https(webhook: RunningWebhook) -> None:
    assert webhook.get("/healthz").json() == {"status": "ok"}
    ready = webhook.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_openapi_docs_are_off_unless_configured(start_webhook: Start, key_pairs: dict[str, KeyPair]) -> None:
    off = start_webhook(config(key_pairs["ecdsa-p256"]))
    assert off.get("/docs").status_code == 404 and off.get("/openapi.json").status_code == 404
    on = start_webhook(config(key_pairs["ecdsa-p256"], server={"docs": True}))
    assert on.get("/docs").status_code == 200 and "/validate" in on.get("/openapi.json").json()["paths"]


def test_the_captured_api_server_review_is_answered_with_its_uid(webhook: RunningWebhook) -> None:
    answer = webhook.post(sample())
    assert answer.status_code == 200
    assert answer.json() == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "67e21e93-1e2b-4a87-950c-ecddbbdaffdd",
            "allowed": False,
            "status": {
                "code": 403,
                "message": "spec.containers[0] (allowed-pod) busybox: no policy matches this image (unmatched: deny)",
            },
        },
    }


def test_an_allowed_review_has_no_status(webhook: RunningWebhook) -> None:
    body = review([("pause", "registry.k8s.io/pause:3.9")], uid="u-1")
    assert webhook.post(body).json()["response"] == {"uid": "u-1", "allowed": True}


def test_a_skipped_namespace_is_allowed(webhook: RunningWebhook) -> None:
    body = review([("app", "registry.example.com/team/app:1")], namespace="kube-system")
    assert webhook.post(body).json()["response"]["allowed"] is True


def _mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = review([("app", "registry.example.com/team/app:1")])
    change(body)
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[" * 200_000, "the body is not JSON"),
        (b"[]", "the body is not a JSON object"),
        (
            _mutate(lambda b: b.update(apiVersion="admission.k8s.io/v1beta1")),
            "apiVersion must be admission.k8s.io/v1",
        ),
        (_mutate(lambda b: b.update(kind="Pod")), "kind must be AdmissionReview"),
        (_mutate(lambda b: b.pop("request")), "request is missing or not an object"),
        (_mutate(lambda b: b["request"].pop("uid")), "request.uid is missing or not a string"),
        (
            _mutate(lambda b: b["request"].update(object=None)),
            "request.object is missing or not an object on CREATE",
        ),
        (
            _mutate(lambda b: b["request"].update(operation="PATCH")),
            "request.operation must be CREATE, UPDATE",
        ),
        (
            _mutate(lambda b: b["request"]["object"]["spec"]["containers"][0].pop("image")),
            "request.object.spec.containers[0].image is missing or not a string",
        ),
        (
            _mutate(lambda b: b["request"].update(operation="UPDATE")),
            "request.oldObject is missing or not an object on UPDATE",
        ),
    ],
    ids=[
        "not-json",
        "nested-too-deep",
        "not-object",
        "apiVersion",
        "kind",
        "no-request",
        "no-uid",
        "no-object",
        "operation",
        "no-image",
        "update-without-old",
    ],
)
def test_a_malformed_review_gets_http_400_with_the_reason(
    webhook: RunningWebhook, body: dict[str, Any] | bytes, reason: str
) -> None:
    answer = webhook.post(body)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"malformed AdmissionReview: {reason}")
    # not a decision, but on record: a refused review (a probe, a broken caller) is audited too
    (record,) = webhook.audit
    assert record["decision"] == "refused" and record["webhook"] == "validate"
    assert record["message"] == answer.json()["error"].removeprefix("malformed AdmissionReview: ")
    assert record["images"] == []
    if isinstance(body, dict) and isinstance(body.get("request"), dict) and "uid" in body["request"]:
        assert record["uid"] == body["request"]["uid"]


def test_an_oversized_body_is_refused(webhook: RunningWebhook) -> None:
    answer = webhook.post(b" " * (8 * 1024 * 1024 + 1))
    assert answer.status_code == 413


def test_only_post_is_accepted_on_validate(webhook: RunningWebhook) -> None:
    assert webhook.get("/validate").status_code == 405


def test_every_review_writes_one_audit_line_with_the_documented_fields(
    webhook: RunningWebhook, key_pairs: dict[str, KeyPair]
) -> None:
    body = review(
        [("pause", "registry.k8s.io/pause:3.9"), ("shell", "other.io/tools/shell:1")], uid="audit-1"
    )
    body["request"]["object"]["metadata"] = {"generateName": "shell-", "namespace": "default"}
    body["request"].pop("name")
    webhook.post(body)
    webhook.post(review([("pause", "registry.k8s.io/pause:3.9")], uid="audit-2"))
    assert len(webhook.audit_lines) == 2 and all("\n" not in line for line in webhook.audit_lines)
    first = webhook.audit[0]
    assert set(first) == {
        "version",
        "time",
        "uid",
        "webhook",
        "namespace",
        "kind",
        "name",
        "pod",
        "operation",
        "subresource",
        "user",
        "dry_run",
        "decision",
        "summary",
        "message",
        "would_deny",
        "warnings",
        "images",
        "duration_ms",
    }
    assert (first["uid"], first["namespace"], first["pod"], first["operation"], first["user"]) == (
        "audit-1",
        "default",
        "shell-",
        "CREATE",
        "admin",
    )
    assert first["decision"] == "deny" and first["duration_ms"] >= 0 and first["version"] == 1
    assert [(i["container"], i["reference"], i["verdict"]) for i in first["images"]] == [
        ("spec.containers[0] (pause)", "registry.k8s.io/pause:3.9", "exempt"),
        ("spec.containers[1] (shell)", "other.io/tools/shell:1", "denied"),
    ]
    assert first["images"][1]["reason"] == "no policy matches this image (unmatched: deny)"
    assert webhook.audit[1]["decision"] == "allow"
    public_pem = key_pairs["ecdsa-p256"].public.read_text()
    body_of_key = "".join(public_pem.splitlines()[1:-1])
    assert body_of_key[:40] not in json.dumps(webhook.audit)  # fingerprints only, never key material
