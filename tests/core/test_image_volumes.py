"""Image volumes (`spec.volumes[].image.reference`, KEP-4639) are images like containers': read from
pods and every workload template, verified, named in deny lines and the audit, counted against the
limits, compared on UPDATE, and pinned by `/mutate` (the patch applied with the RFC 6902 applier of
`tests/webhook/rfc6902.py`, written from the RFC)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from app.core.admission.audit import audit_record
from app.core.admission.decision import MAX_CONTAINERS_PER_REVIEW, Verdict
from app.core.admission.pinning import json_patch, pins
from app.core.admission.policy import Pinning, Policy
from app.core.admission.review import parse_review
from app.core.admission.workloads import MAX_CONTAINERS
from app.core.digests import Digest
from app.core.errors import MalformedReview
from tests.core.decisions import ALICE, APP, DB, OTHER, PROD, ScriptedVerifier, policy, run
from tests.webhook import rfc6902
from tests.webhook.reviews import (
    WORKLOAD_SAMPLES,
    add_image_volumes,
    pod,
    pod_spec_of,
    review,
    workload_review,
)

TOOLS = "registry.example.com/team/tools:1"
NO_SIG = 'no signature verified by the keys of policy "prod" (no signatures found)'


def pod_with_volumes(volumes: list[tuple[str, str]], containers: list[tuple[str, str]] | None = None) -> dict:
    body = review(containers or [("app", APP)])
    add_image_volumes(body["request"]["object"]["spec"], volumes)
    return body


def test_an_image_volume_of_a_pod_is_read_after_the_containers_with_its_path_name_and_pointer() -> None:
    request = parse_review(pod_with_volumes([("tools", TOOLS)]))
    assert [(c.label, c.image, c.pointer) for c in request.images] == [
        ("spec.containers[0] (app)", APP, "/spec/containers/0/image"),
        ("spec.volumes[1].image (tools)", TOOLS, "/spec/volumes/1/image/reference"),
    ]


@pytest.mark.parametrize("kind", list(WORKLOAD_SAMPLES))
def test_an_image_volume_of_every_workload_template_is_read(kind: str) -> None:
    body = workload_review(kind, [("app", APP)])
    add_image_volumes(pod_spec_of(body["request"]["object"], WORKLOAD_SAMPLES[kind][1]), [("tools", TOOLS)])
    prefix = ".".join(WORKLOAD_SAMPLES[kind][1])
    volume = parse_review(body).images[-1]
    assert (volume.label, volume.image) == (f"{prefix}.volumes[1].image (tools)", TOOLS)
    assert volume.pointer == "/" + prefix.replace(".", "/") + "/volumes/1/image/reference"


@pytest.mark.parametrize("source", [{}, {"reference": ""}, {"pullPolicy": "Always"}])
def test_an_image_volume_without_a_reference_names_no_image(source: dict) -> None:
    body = review([("app", APP)])
    body["request"]["object"]["spec"]["volumes"] = [{"name": "later", "image": source}]
    assert [c.image for c in parse_review(body).images] == [APP]


@pytest.mark.parametrize(
    ("volume", "complaint"),
    [
        ("tools", "spec.volumes[0] is not an object"),
        ({"name": "t", "image": "x:1"}, "spec.volumes[0].image is not an object"),
        ({"name": "t", "image": {"reference": ["x:1"]}}, "spec.volumes[0].image.reference is not a string"),
    ],
)
def test_an_image_volume_of_the_wrong_shape_is_malformed(volume: object, complaint: str) -> None:
    body = review([("app", APP)])
    body["request"]["object"]["spec"]["volumes"] = [volume]
    with pytest.raises(MalformedReview, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        parse_review(body)


def test_image_volumes_do_not_stand_in_for_a_container() -> None:
    body = pod_with_volumes([("tools", TOOLS)])
    body["request"]["object"]["spec"]["containers"] = []
    with pytest.raises(MalformedReview, match="has no containers"):
        parse_review(body)


async def test_a_signed_pod_with_an_unsigned_image_volume_is_denied_naming_the_volume() -> None:
    decision = await run(
        pod_with_volumes([("tools", TOOLS)]), policy(PROD), ScriptedVerifier({APP: (ALICE,)})
    )
    assert not decision.allowed
    assert decision.message == f"spec.volumes[1].image (tools) {TOOLS}: {NO_SIG}"
    assert [o.verdict for o in decision.images] == [Verdict.VERIFIED, Verdict.DENIED]


async def test_an_image_volume_no_policy_matches_is_denied_under_unmatched_deny() -> None:
    decision = await run(
        pod_with_volumes([("shell", OTHER)]), policy(PROD), ScriptedVerifier({APP: (ALICE,)})
    )
    assert (
        decision.message
        == f"spec.volumes[1].image (shell) {OTHER}: no policy matches this image (unmatched: deny)"
    )


async def test_a_workload_with_an_unsigned_image_volume_is_denied_naming_the_workload() -> None:
    body = workload_review("apps/v1 Deployment", [("app", APP)])
    add_image_volumes(body["request"]["object"]["spec"]["template"]["spec"], [("tools", TOOLS)])
    decision = await run(body, policy(PROD), ScriptedVerifier({APP: (ALICE,)}))
    name = body["request"]["name"]
    assert (
        decision.message
        == f"Deployment {name}: spec.template.spec.volumes[1].image (tools) {TOOLS}: {NO_SIG}"
    )


async def test_signed_image_volumes_are_allowed_and_listed_in_the_audit_record() -> None:
    body = pod_with_volumes([("tools", TOOLS)])
    verifier = ScriptedVerifier({APP: (ALICE,), TOOLS: (ALICE,)})
    decision = await run(body, policy(PROD), verifier)
    assert decision.allowed and sorted(c for c, _ in verifier.calls) == [APP, TOOLS]
    record = audit_record(parse_review(body), decision, datetime.now(UTC), 1.0)
    assert [(i["container"], i["image"], i["verdict"]) for i in record["images"]] == [
        ("spec.containers[0] (app)", APP, "verified"),
        ("spec.volumes[1].image (tools)", TOOLS, "verified"),
    ]


async def test_an_update_verifies_a_changed_image_volume_and_only_that() -> None:
    old = add_image_volumes(pod([("app", APP)])["spec"], [("tools", TOOLS)])
    new = copy.deepcopy(old)
    new["volumes"][1]["image"]["reference"] = DB
    body = review(operation="UPDATE", obj=dict(pod([("app", APP)]), spec=new), old=dict(pod([]), spec=old))
    verifier = ScriptedVerifier()
    decision = await run(body, policy(PROD), verifier)
    assert [c for c, _ in verifier.calls] == [DB]
    assert [o.verdict for o in decision.images] == [Verdict.UNCHANGED, Verdict.DENIED]


async def test_an_update_that_leaves_an_image_volume_as_it_was_does_not_verify_it() -> None:
    old = pod_with_volumes([("tools", TOOLS)])["request"]["object"]
    body = review(operation="UPDATE", obj=copy.deepcopy(old), old=old)
    verifier = ScriptedVerifier()
    decision = await run(body, policy(PROD), verifier)
    assert decision.allowed and verifier.calls == []


async def test_image_volumes_count_against_the_images_a_review_may_list() -> None:
    volumes = [(f"v{i}", TOOLS) for i in range(MAX_CONTAINERS_PER_REVIEW)]
    verifier = ScriptedVerifier()
    decision = await run(pod_with_volumes(volumes), policy(PROD), verifier)
    assert not decision.allowed and verifier.calls == []
    assert f"it has {MAX_CONTAINERS_PER_REVIEW + 1} containers and image volumes" in (decision.message or "")


def test_volumes_count_against_what_a_pod_spec_may_list_before_it_is_read() -> None:
    body = review([("app", APP)])
    body["request"]["object"]["spec"]["volumes"] = [{"name": "v", "emptyDir": {}}] * MAX_CONTAINERS
    with pytest.raises(MalformedReview, match=f"lists {MAX_CONTAINERS + 1} containers and volumes"):
        parse_review(body)


@pytest.mark.parametrize("pinning", [Pinning.PODS, Pinning.ALL])
async def test_mutate_pins_a_verified_image_volume_with_a_test_of_the_old_reference(pinning: Pinning) -> None:
    body = pod_with_volumes([("tools", TOOLS)])
    admission = policy(Policy("prod", PROD.patterns, (ALICE,), pinning=pinning))
    verifier = ScriptedVerifier({APP: (ALICE,), TOOLS: (ALICE,)})
    decision = await run(body, admission, verifier)
    patch = json_patch(pins(parse_review(body), decision, admission))
    pinned = f"registry.example.com/team/tools@{Digest.of(TOOLS.encode())}"
    assert patch[2:] == [
        {"op": "test", "path": "/spec/volumes/1/image/reference", "value": TOOLS},
        {"op": "replace", "path": "/spec/volumes/1/image/reference", "value": pinned},
    ]
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    assert patched["spec"]["volumes"][1] == {
        "name": "tools",
        "image": {"reference": pinned, "pullPolicy": "IfNotPresent"},
    }
