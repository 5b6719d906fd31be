"""Parsing workload reviews: every kind with a pod template, as captured from kube-apiserver 1.20."""

from __future__ import annotations

import copy

import pytest

from app.core.admission.review import Operation, parse_review
from app.core.errors import MalformedReview
from tests.webhook.reviews import WORKLOAD_SAMPLES, pod_spec_of, review, sample, workload, workload_review

TEMPLATE_PREFIX = {
    "batch/v1beta1 CronJob": "spec.jobTemplate.spec.template.spec",
    "batch/v1 CronJob": "spec.jobTemplate.spec.template.spec",
}


@pytest.mark.parametrize("kind", list(WORKLOAD_SAMPLES))
def test_each_captured_workload_review_yields_its_template_containers_with_paths(kind: str) -> None:
    request = parse_review(sample(WORKLOAD_SAMPLES[kind][0]))
    prefix = TEMPLATE_PREFIX.get(kind, "spec.template.spec")
    assert request.reviewed and not request.is_pod
    assert request.kind == kind and request.workload == kind.split()[-1]
    assert [(c.label, c.image) for c in request.images] == [
        (f"{prefix}.containers[0] (app)", "registry.example.com/team/app:1"),
        (f"{prefix}.initContainers[0] (migrate)", "registry.example.com/db/migrate:2"),
    ]
    assert request.images[0].pointer == "/" + prefix.replace(".", "/") + "/containers/0/image"


@pytest.mark.parametrize("kind", list(WORKLOAD_SAMPLES))
def test_the_pull_identity_of_a_workload_template_is_read(kind: str) -> None:
    request = parse_review(sample(WORKLOAD_SAMPLES[kind][0]))
    assert (request.pull_secrets, request.service_account) == (("regcred",), "builder")


def test_a_pod_without_a_service_account_name_runs_as_default() -> None:
    request = parse_review(review([("a", "x:1")]))
    assert (request.pull_secrets, request.service_account) == ((), "default")


def test_pull_secret_names_of_a_pod_are_read_once_each_in_order() -> None:
    body = review([("a", "x:1")])
    body["request"]["object"]["spec"]["imagePullSecrets"] = [{"name": "b"}, {"name": "a"}, {"name": "b"}]
    body["request"]["object"]["spec"]["serviceAccountName"] = "ci"
    request = parse_review(body)
    assert (request.pull_secrets, request.service_account) == (("b", "a"), "ci")


@pytest.mark.parametrize("bad", [{"name": "x"}, [{"nom": "x"}], ["x"], [{"name": 3}]])
def test_pull_secrets_of_the_wrong_shape_are_malformed(bad: object) -> None:
    body = review([("a", "x:1")])
    body["request"]["object"]["spec"]["imagePullSecrets"] = bad
    with pytest.raises(MalformedReview, match="imagePullSecrets"):
        parse_review(body)


def test_the_pre_1_23_ephemeral_containers_object_has_no_pod_spec_and_points_at_its_list() -> None:
    request = parse_review(sample("ephemeralcontainers-update-kube-apiserver-1.20.json"))
    assert request.service_account is None
    changed = request.images_to_verify()
    assert [(c.label, c.pointer) for c in changed] == [
        ("spec.ephemeralContainers[0] (dbg2)", "/ephemeralContainers/0/image")
    ]


def test_the_captured_deployment_update_verifies_only_the_changed_template_image() -> None:
    request = parse_review(sample("deployment-update-kube-apiserver-1.20.json"))
    assert request.operation is Operation.UPDATE
    assert [(c.path, c.image) for c in request.images_to_verify()] == [
        ("spec.template.spec.containers[0]", "registry.example.com/team/app:2")
    ]


def test_a_workload_update_that_changes_no_image_has_nothing_to_verify() -> None:
    old = workload("apps/v1 Deployment", [("app", "x:1")])
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    request = parse_review(workload_review("apps/v1 Deployment", operation="UPDATE", obj=new, old=old))
    assert request.images_to_verify() == ()


def test_a_workload_without_its_template_is_malformed_naming_the_field() -> None:
    obj = workload("batch/v1beta1 CronJob", [("app", "x:1")])
    del obj["spec"]["jobTemplate"]["spec"]["template"]
    with pytest.raises(
        MalformedReview, match=r"request\.object\.spec\.jobTemplate\.spec\.template is missing"
    ):
        parse_review(workload_review("batch/v1beta1 CronJob", obj=obj))


def test_a_workload_update_without_the_old_object_is_malformed() -> None:
    body = workload_review("apps/v1 StatefulSet", [("app", "x:1")], operation="UPDATE")
    with pytest.raises(MalformedReview, match="oldObject"):
        parse_review(body)


def test_a_kind_in_the_wrong_group_is_not_a_workload() -> None:
    body = workload_review("apps/v1 Deployment", [("app", "x:1")])
    body["request"]["kind"] = {"group": "example.com", "version": "v1", "kind": "Deployment"}
    request = parse_review(body)
    assert not request.reviewed and request.images == () and request.service_account is None


def test_the_template_containers_are_where_the_pointer_says() -> None:
    for kind, (_, path) in WORKLOAD_SAMPLES.items():
        obj = workload(kind, [("a", "x:1"), ("b", "y:2")], init=[("i", "z:3")])
        request = parse_review(workload_review(kind, obj=obj))
        for container in request.images:
            keys = container.pointer.strip("/").split("/")
            holder: object = obj
            for key in keys:
                holder = holder[int(key)] if isinstance(holder, list) else holder[key]  # type: ignore[index]
            assert holder == container.image, (kind, container)
        assert pod_spec_of(obj, path)["containers"][1]["image"] == "y:2"
