"""Parsing AdmissionReview v1 into the request the decision reads (captured API server samples)."""

from __future__ import annotations

import pytest

from app.core.admission.review import ContainerImage, Operation, parse_review, review_response
from app.core.errors import MalformedReview
from tests.webhook.reviews import pod, review, sample


def test_the_review_captured_from_kube_apiserver_parses() -> None:
    request = parse_review(sample("pod-create.json"))
    assert (request.uid, request.operation, request.kind, request.namespace, request.name, request.user) == (
        "67e21e93-1e2b-4a87-950c-ecddbbdaffdd",
        Operation.CREATE,
        "Pod",
        "default",
        "allowed-pod",
        "admin",
    )
    assert request.images == (ContainerImage("spec.containers[0]", "allowed-pod", "busybox"),)


def test_the_v1_20_ephemeralcontainers_subresource_object_is_read() -> None:
    request = parse_review(sample("ephemeralcontainers-update-kube-apiserver-1.20.json"))
    assert request.is_pod and request.subresource == "ephemeralcontainers"
    assert request.images_to_verify() == (ContainerImage("spec.ephemeralContainers[0]", "dbg2", "busybox:2"),)


def test_containers_init_and_ephemeral_containers_get_their_paths() -> None:
    body = review([("a", "x:1"), ("b", "y:1")], init=[("i", "z:1")], ephemeral=[("e", "w:1")])
    paths = [c.label for c in parse_review(body).images]
    assert paths == [
        "spec.containers[0] (a)",
        "spec.containers[1] (b)",
        "spec.initContainers[0] (i)",
        "spec.ephemeralContainers[0] (e)",
    ]


def test_a_pod_named_by_the_api_server_later_is_known_by_its_generate_name() -> None:
    body = review([("a", "x:1")])
    body["request"].pop("name")
    body["request"]["object"]["metadata"] = {"generateName": "web-"}
    assert parse_review(body).pod_name == "web-"


def test_delete_needs_no_object() -> None:
    request = parse_review(review([("a", "x:1")], operation="DELETE"))
    assert request.operation is Operation.DELETE and request.images == ()


def test_an_update_lists_only_changed_images_to_verify() -> None:
    body = review([("a", "x:1"), ("b", "y:2")], operation="UPDATE", old=pod([("a", "x:1"), ("b", "y:1")]))
    assert [c.image for c in parse_review(body).images_to_verify()] == ["y:2"]


def test_a_kind_without_a_pod_template_is_parsed_as_not_reviewed() -> None:
    body = review([("a", "x:1")])
    body["request"]["kind"] = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    request = parse_review(body)
    assert not request.reviewed and request.kind == "autoscaling/v1 Scale" and request.images == ()


@pytest.mark.parametrize("containers", [{"a": 1}, [1], [{"name": "a", "image": 7}]])
def test_containers_of_the_wrong_shape_are_malformed(containers: object) -> None:
    body = review([("a", "x:1")])
    body["request"]["object"]["spec"]["containers"] = containers
    with pytest.raises(MalformedReview):
        parse_review(body)


def test_a_deny_response_carries_code_403_and_the_message() -> None:
    assert review_response("u", False, "why")["response"] == {
        "uid": "u",
        "allowed": False,
        "status": {"code": 403, "message": "why"},
    }
