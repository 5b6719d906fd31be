"""Digest pinning from a decision: which images, to what, and the RFC 6902 patch (applied with the
RFC 6902 applier of `tests/webhook/rfc6902.py`, written from the RFC, not from the code under test)."""

from __future__ import annotations

import copy

import pytest

from app.core.admission.patterns import ImagePattern
from app.core.admission.pinning import json_patch, pinned_image, pins
from app.core.admission.policy import AdmissionPolicy, Mode, Pinning, Policy
from app.core.admission.review import parse_review
from app.core.digests import Digest
from tests.core.decisions import ALICE, APP, DB, PROD, ScriptedVerifier, policy, run
from tests.webhook import rfc6902
from tests.webhook.reviews import review, workload_review

DIGEST = Digest.of(b"manifest")


def prod(pinning: Pinning, name: str = "prod", pattern: str = "registry.example.com/**") -> Policy:
    return Policy(name, (ImagePattern(pattern),), (ALICE,), pinning=pinning)


async def patch_for(body: dict, admission: AdmissionPolicy, verifier: ScriptedVerifier) -> list[dict]:
    decision = await run(body, admission, verifier)
    return json_patch(pins(parse_review(body), decision, admission))


@pytest.mark.parametrize(
    ("written", "pinned"),
    [
        ("registry.example.com/team/app:1", f"registry.example.com/team/app@{DIGEST}"),
        ("localhost:5000/team/app:1", f"localhost:5000/team/app@{DIGEST}"),
        ("localhost:5000/team/app", f"localhost:5000/team/app@{DIGEST}"),
        ("nginx", f"nginx@{DIGEST}"),
        ("nginx:1.25", f"nginx@{DIGEST}"),
    ],
)
def test_a_pinned_image_keeps_the_name_as_written_and_drops_the_tag(written: str, pinned: str) -> None:
    assert pinned_image(written, DIGEST) == pinned


async def test_the_patch_applied_to_a_pod_gives_every_verified_image_its_digest() -> None:
    body = review([("app", APP)], init=[("migrate", DB)])
    verifier = ScriptedVerifier(signed={APP: (ALICE,), DB: (ALICE,)})
    patch = await patch_for(body, policy(PROD), verifier)
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    assert (
        patched["spec"]["containers"][0]["image"]
        == f"registry.example.com/team/app@{Digest.of(APP.encode())}"
    )
    assert (
        patched["spec"]["initContainers"][0]["image"]
        == f"registry.example.com/db/migrate@{Digest.of(DB.encode())}"
    )
    unpatched = copy.deepcopy(body["request"]["object"])
    unpatched["spec"]["containers"][0]["image"] = patched["spec"]["containers"][0]["image"]
    unpatched["spec"]["initContainers"][0]["image"] = patched["spec"]["initContainers"][0]["image"]
    assert patched == unpatched  # nothing else changed


async def test_an_image_pinned_by_its_author_is_left_as_is() -> None:
    written = f"registry.example.com/team/app:1@{Digest.of(b'x')}"
    verifier = ScriptedVerifier(signed={written: (ALICE,)})
    assert await patch_for(review([("app", written)]), policy(PROD), verifier) == []


async def test_unverified_exempt_and_unmatched_images_are_never_pinned() -> None:
    body = review([("app", APP), ("pause", "registry.k8s.io/pause:3.9"), ("other", "other.io/x:1")])
    assert await patch_for(body, policy(PROD), ScriptedVerifier()) == []


async def test_a_warned_image_is_not_pinned() -> None:
    warn = Policy("prod", (ImagePattern("registry.example.com/**"),), (ALICE,), mode=Mode.WARN)
    assert await patch_for(review([("app", APP)]), policy(warn), ScriptedVerifier()) == []


async def test_pods_only_pinning_leaves_workloads_as_written_and_true_pins_them() -> None:
    body = workload_review("apps/v1 Deployment", [("app", APP)])
    verifier = ScriptedVerifier(signed={APP: (ALICE,)})
    assert await patch_for(body, policy(prod(Pinning.PODS)), verifier) == []
    patch = await patch_for(body, policy(prod(Pinning.ALL)), verifier)
    patched = rfc6902.apply_patch(body["request"]["object"], patch)
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        f"@{Digest.of(APP.encode())}"
    )


async def test_an_image_is_pinned_only_when_every_matching_policy_wants_it() -> None:
    verifier = ScriptedVerifier(signed={DB: (ALICE,)})
    both = policy(prod(Pinning.PODS), prod(Pinning.NONE, "db", "registry.example.com/db/**"))
    assert await patch_for(review([("db", DB)]), both, verifier) == []
    assert await patch_for(review([("app", APP)]), both, ScriptedVerifier(signed={APP: (ALICE,)})) != []


async def test_each_replacement_is_guarded_by_a_test_of_the_verified_image() -> None:
    body = review([("app", APP)])
    patch = await patch_for(body, policy(PROD), ScriptedVerifier(signed={APP: (ALICE,)}))
    assert [op["op"] for op in patch] == ["test", "replace"]
    moved = copy.deepcopy(body["request"]["object"])
    moved["spec"]["containers"][0]["image"] = "registry.example.com/team/app:2"
    with pytest.raises(rfc6902.JsonPatchTestFailed):
        rfc6902.apply_patch(moved, patch)


async def test_the_cronjob_patch_points_into_the_job_template() -> None:
    body = workload_review("batch/v1 CronJob", [("app", APP)])
    patch = await patch_for(body, policy(prod(Pinning.ALL)), ScriptedVerifier(signed={APP: (ALICE,)}))
    assert patch[1]["path"] == "/spec/jobTemplate/spec/template/spec/containers/0/image"
