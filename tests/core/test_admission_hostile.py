"""Reviews that lie: the object is checked for what it is, never for what `request.kind` or the old
object claim, and a review that would check nothing is refused (HTTP 400), never admitted."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from app.core.admission.decision import decide
from app.core.admission.review import parse_review
from app.core.admission.workloads import MAX_CONTAINERS
from app.core.errors import MalformedReview
from app.core.trust.secretkeys import KeySnapshot
from tests.core.decisions import PROD, ScriptedVerifier, policy
from tests.webhook.reviews import pod, review, workload, workload_review

EVIL = "evil.example.com/miner:1"


def _refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedReview) as raised:
        parse_review(body)
    assert reason in raised.value.reason


def test_a_pod_that_calls_itself_ephemeralcontainers_does_not_hide_its_containers() -> None:
    body = review([("app", EVIL)])
    body["request"]["object"]["kind"] = "EphemeralContainers"  # would be read as a bare list holder
    _refused(body, "request.object is of kind 'EphemeralContainers' but request.kind says 'Pod'")


def test_a_pod_sent_as_a_deployment_is_refused_not_read_as_an_empty_template() -> None:
    body = review([("app", EVIL)])
    body["request"]["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    body["request"]["object"]["spec"]["template"] = {"spec": {"containers": []}}
    _refused(body, "request.object is of kind 'Pod' but request.kind says 'apps/Deployment'")


def test_a_deployment_sent_as_a_pod_is_refused() -> None:
    body = workload_review("apps/v1 Deployment", [("app", EVIL)])
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": "Pod"}
    _refused(body, "request.object is of kind 'apps/Deployment' but request.kind says 'Pod'")


def test_an_old_object_of_another_kind_is_refused() -> None:
    old = workload("apps/v1 Deployment", [("app", EVIL)])
    _refused(
        review([("app", EVIL)], operation="UPDATE", old=old), "request.oldObject is of kind 'apps/Deployment'"
    )


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({}, id="no container lists"),
        pytest.param({"containers": [], "initContainers": None}, id="empty lists"),
    ],
)
def test_a_pod_without_any_container_is_refused_not_admitted_having_checked_nothing(
    spec: dict[str, Any],
) -> None:
    body = review([("app", EVIL)])
    body["request"]["object"]["spec"] = spec
    _refused(body, "request.object has no containers")


def test_an_object_in_another_namespace_than_the_request_is_refused() -> None:
    body = review([("app", EVIL)], namespace="kube-system")  # a skipped namespace
    body["request"]["object"]["metadata"]["namespace"] = "prod"
    _refused(body, "request.object.metadata.namespace differs from request.namespace")


@pytest.mark.parametrize(
    ("key", "value"),
    [("namespace", "other"), ("name", "another-pod"), ("uid", "another-uid")],
)
def test_an_update_whose_old_object_is_another_object_verifies_every_image(key: str, value: str) -> None:
    new = pod([("app", EVIL)])
    new["metadata"].update(name="web", uid="uid-1")
    old = copy.deepcopy(new)
    body = review(operation="UPDATE", obj=new, old=old)
    old["metadata"][key] = value  # the same image, but in an old object that is not this one
    request = parse_review(body)
    assert [c.image for c in request.images_to_verify()] == [EVIL]


def test_an_update_of_the_same_object_with_the_same_image_has_nothing_to_verify() -> None:
    new = pod([("app", EVIL)])
    new["metadata"].update(name="web", uid="uid-1")
    assert parse_review(review(operation="UPDATE", obj=new, old=copy.deepcopy(new))).images_to_verify() == ()


def test_an_update_without_an_old_object_is_refused_never_treated_as_unchanged() -> None:
    body = review([("app", EVIL)], operation="UPDATE")
    _refused(body, "request.oldObject is missing")


@pytest.mark.parametrize(
    "namespace",
    [
        pytest.param(None, id="no namespace"),
        pytest.param("", id="empty namespace"),
        pytest.param("kube\u2010system", id="kube-system with a unicode hyphen"),
        pytest.param("KUBE-SYSTEM", id="kube-system in capitals"),
        pytest.param("kube-system\u200b", id="kube-system with a zero-width space"),
    ],
)
async def test_only_the_exact_name_of_a_skipped_namespace_skips_verification(namespace: str | None) -> None:
    body = review([("app", EVIL)])
    body["request"]["namespace"] = namespace
    body["request"]["object"]["metadata"].pop("namespace")
    decision = await decide(parse_review(body), policy(PROD), KeySnapshot(), ScriptedVerifier())
    assert not decision.allowed and "no policy matches this image" in (decision.message or "")


async def test_a_pod_sent_for_another_resource_is_still_checked_as_the_pod_it_is() -> None:
    body = review([("app", EVIL)])
    body["request"]["resource"] = {"group": "", "version": "v1", "resource": "configmaps"}
    body["request"]["subResource"] = "status"
    decision = await decide(parse_review(body), policy(PROD), KeySnapshot(), ScriptedVerifier())
    assert not decision.allowed and EVIL in (decision.message or "")


async def test_a_dry_run_is_verified_like_any_other_review() -> None:
    body = review([("app", EVIL)])
    body["request"]["dryRun"] = True
    request = parse_review(body)
    decision = await decide(request, policy(PROD), KeySnapshot(), ScriptedVerifier())
    assert request.dry_run and not decision.allowed


def test_an_object_listing_absurdly_many_containers_is_refused_before_they_are_read() -> None:
    body = review([("app", EVIL)])
    body["request"]["object"]["spec"]["initContainers"] = [{"name": "a", "image": EVIL}] * (
        MAX_CONTAINERS + 1
    )
    started = time.monotonic()
    _refused(
        body, f"request.object lists {MAX_CONTAINERS + 2} containers and volumes, more than {MAX_CONTAINERS}"
    )
    assert time.monotonic() - started < 0.5
