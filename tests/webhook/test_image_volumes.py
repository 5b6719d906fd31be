"""Image volumes over HTTPS against the real registry: the bypass of a signed container next to an
unsigned image volume is denied, for pods and every workload template, `/mutate` pins a verified
volume reference, and the audit line lists every image volume.

The webhook is the real uvicorn server built by `build_webhook`, asked over real TLS; images are
pushed to the real `docker-registry` and signed by the real `sigwebhook sign`. (The kube-apiserver
1.20 of the end-to-end lane does not know image volumes: it would store them as `emptyDir`.)
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
from tests.webhook.reviews import WORKLOAD_SAMPLES, add_image_volumes, pod_spec_of, review, workload_review

KEY = "ecdsa-p256"
NO_SIG = 'no signature verified by the keys of policy "team" (no signatures found)'


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> dict[str, str]:
    """`signed`, `data` (signed, for volumes), `unsigned` and `elsewhere` (no policy matches) images,
    and `<name> digest`."""
    host = plain_registry.host
    found: dict[str, str] = {}
    for name, repo, signed in (
        ("signed", "volumes/team/app", True),
        ("data", "volumes/team/data", True),
        ("unsigned", "volumes/team/unsigned-data", False),
        ("elsewhere", "volumes/other/data", False),
    ):
        digest = push_image(plain_registry, repo, "1", content=name.encode())
        found[name], found[f"{name} digest"] = f"{host}/{repo}:1", str(digest)
        if signed:
            sign_image(found[name], key_pairs[KEY], ["--insecure-registry", host])
    return found


@pytest.fixture(scope="module")
def webhook(
    images: dict[str, str],
    key_pairs: dict[str, KeyPair],
    plain_registry: TestRegistry,
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> RunningWebhook:
    return module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "unmatched": "deny",
            "policies": [
                key_policy("team", f"{plain_registry.host}/volumes/team/**", key_pairs[KEY], pinDigest="all")
            ],
        }
    )


def answer(webhook: RunningWebhook, body: dict[str, Any], path: str = "/validate") -> dict[str, Any]:
    reply = webhook.post(body, path=path)
    assert reply.status_code == 200, reply.text
    response: dict[str, Any] = reply.json()["response"]
    assert response["uid"] == body["request"]["uid"]
    return response


def pod_review(images: dict[str, str], volume: str) -> dict[str, Any]:
    body = review([("app", images["signed"])])
    add_image_volumes(body["request"]["object"]["spec"], [("tools", images[volume])])
    return body


def test_a_signed_pod_with_an_unsigned_image_volume_is_denied_and_audited(
    webhook: RunningWebhook, images: dict[str, str]
) -> None:
    response = answer(webhook, pod_review(images, "unsigned"))
    assert response["allowed"] is False
    assert response["status"]["message"] == f"spec.volumes[1].image (tools) {images['unsigned']}: {NO_SIG}"
    record = webhook.audit[-1]
    assert record["decision"] == "deny"
    assert [(i["container"], i["verdict"]) for i in record["images"]] == [
        ("spec.containers[0] (app)", "verified"),
        ("spec.volumes[1].image (tools)", "denied"),
    ]


def test_an_image_volume_no_policy_matches_is_denied(webhook: RunningWebhook, images: dict[str, str]) -> None:
    response = answer(webhook, pod_review(images, "elsewhere"))
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        f"spec.volumes[1].image (tools) {images['elsewhere']}: no policy matches this image (unmatched: deny)"
    )


def test_a_signed_image_volume_is_allowed_with_its_digest_in_the_audit(
    webhook: RunningWebhook, images: dict[str, str]
) -> None:
    assert answer(webhook, pod_review(images, "data"))["allowed"] is True
    volume = webhook.audit[-1]["images"][-1]
    assert (volume["container"], volume["verdict"], volume["digest"]) == (
        "spec.volumes[1].image (tools)",
        "verified",
        images["data digest"],
    )


@pytest.mark.parametrize("kind", list(WORKLOAD_SAMPLES))
def test_a_workload_template_with_an_unsigned_image_volume_is_denied(
    webhook: RunningWebhook, images: dict[str, str], kind: str
) -> None:
    body = workload_review(kind, [("app", images["signed"])])
    spec_path = WORKLOAD_SAMPLES[kind][1]
    add_image_volumes(pod_spec_of(body["request"]["object"], spec_path), [("tools", images["unsigned"])])
    response = answer(webhook, body)
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        f"{kind.split()[-1]} {body['request']['name']}: "
        f"{'.'.join(spec_path)}.volumes[1].image (tools) {images['unsigned']}: {NO_SIG}"
    )


def test_mutate_pins_a_verified_image_volume_and_the_pinned_pod_passes_validation(
    webhook: RunningWebhook, images: dict[str, str]
) -> None:
    body = pod_review(images, "data")
    response = answer(webhook, body, "/mutate")
    patch = json.loads(base64.b64decode(response["patch"], validate=True))
    pinned = images["data"].rsplit(":", 1)[0] + "@" + images["data digest"]
    assert {"op": "test", "path": "/spec/volumes/1/image/reference", "value": images["data"]} in patch
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    assert patched["spec"]["volumes"][1]["image"]["reference"] == pinned
    assert webhook.audit[-1]["images"][-1]["pinned"] == pinned
    body["request"]["object"] = patched
    assert answer(webhook, body)["allowed"] is True
    assert webhook.audit[-1]["images"][-1]["image"] == pinned
