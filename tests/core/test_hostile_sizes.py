"""Hostile sizes: megabytes in one string of a review are refused or denied clearly, and never echoed
whole into the answer, the warnings or the audit line. Image references are bounded by distribution's
grammar (a 255-character name, a 128-character tag, a digest), names by Kubernetes' own limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.admission.audit import audit_line, audit_record
from app.core.admission.decision import Verdict
from app.core.admission.review import MAX_UID_CHARS, parse_review
from app.core.admission.workloads import LABEL_LENGTH_MAX, NAME_LENGTH_MAX
from app.core.errors import InvalidReference, MalformedReview
from app.core.references import NAME_TOTAL_LENGTH_MAX, REFERENCE_LENGTH_MAX, TAG_LENGTH_MAX, parse_reference
from tests.core.decisions import ALICE, APP, PROD, ScriptedVerifier, policy, run
from tests.webhook.reviews import review, workload_review

HUGE = 7 * 1024 * 1024
LONGEST = (
    "r.example/"
    + "a" * (NAME_TOTAL_LENGTH_MAX - len("r.example/"))
    + ":"
    + "t" * TAG_LENGTH_MAX
    + "@sha512:"
    + "0" * 128
)


def test_the_longest_reference_the_grammar_allows_is_the_bound_and_parses() -> None:
    assert len(LONGEST) == REFERENCE_LENGTH_MAX
    assert parse_reference(LONGEST).tag == "t" * TAG_LENGTH_MAX


@pytest.mark.parametrize("image", ["r.example/" + "a" * HUGE, APP + "x" * HUGE, LONGEST + "0"])
def test_a_reference_longer_than_any_can_be_is_refused_before_it_is_scanned(image: str) -> None:
    with pytest.raises(InvalidReference) as raised:
        parse_reference(image)
    assert (
        f"{len(image)} characters, longer than any reference can be ({REFERENCE_LENGTH_MAX}"
        in raised.value.reason
    )
    assert len(raised.value.reason) < 400


async def _decided(body: dict[str, Any]) -> tuple[Any, str]:
    decision = await run(body, policy(PROD), ScriptedVerifier({APP: (ALICE,)}))
    line = audit_line(audit_record(parse_review(body), decision, datetime.now(UTC), 1.0))
    return decision, line


async def test_a_7_mib_image_is_denied_saying_so_and_echoed_cut() -> None:
    image = "registry.example.com/team/" + "a" * HUGE
    decision, line = await _decided(review([("app", APP), ("big", image)]))
    assert not decision.allowed and decision.images[1].verdict is Verdict.DENIED
    assert decision.message is not None and len(decision.message) < 2_000
    assert f"… ({len(image)} characters): invalid image reference" in decision.message
    assert len(line) < 4_000


async def test_a_7_mib_container_name_is_echoed_cut_at_the_kubernetes_limit() -> None:
    name = "n" * HUGE
    decision, line = await _decided(review([("app", APP), (name, "other.io/x:1")]))
    assert decision.message == (
        f"spec.containers[1] ({'n' * LABEL_LENGTH_MAX}… ({HUGE} characters)) other.io/x:1: "
        "no policy matches this image (unmatched: deny)"
    )
    assert len(line) < 4_000


async def test_a_7_mib_name_is_echoed_cut_in_warnings_and_the_workload_subject() -> None:
    body = workload_review("apps/v1 Deployment", [("app", "other.io/x:1")])
    body["request"]["name"] = "w" * HUGE
    decision, line = await _decided(body)
    assert decision.message is not None
    assert decision.message.startswith(f"Deployment {'w' * NAME_LENGTH_MAX}… ({HUGE} characters): ")
    assert len(line) < 4_000


@pytest.mark.parametrize(
    "where",
    [
        ("request", "userInfo", "username"),
        ("request", "subResource"),
        ("request", "object", "metadata", "generateName"),
    ],
)
async def test_fields_only_echoed_are_cut_in_the_audit_line(where: tuple[str, ...]) -> None:
    body = review([("app", APP)])
    holder = body
    for key in where[:-1]:
        holder = holder[key]
    holder[where[-1]] = "f" * HUGE
    if where[-1] == "generateName":
        body["request"]["name"] = None
        body["request"]["object"]["metadata"].pop("name", None)
    decision, line = await _decided(body)
    assert decision.allowed and len(line) < 4_000
    assert f"… ({HUGE} characters)" in line


@pytest.mark.parametrize(
    ("where", "value", "complaint"),
    [
        (("request", "uid"), "u" * (MAX_UID_CHARS + 1), f"request.uid is {MAX_UID_CHARS + 1} characters"),
        (("request", "namespace"), "n" * (LABEL_LENGTH_MAX + 1), "request.namespace is 64 characters"),
        (
            ("request", "object", "spec", "serviceAccountName"),
            "s" * HUGE,
            f"spec.serviceAccountName is {HUGE} characters, more than the {NAME_LENGTH_MAX}",
        ),
        (
            ("request", "object", "spec", "imagePullSecrets"),
            [{"name": "p" * (NAME_LENGTH_MAX + 1)}],
            "spec.imagePullSecrets[0].name is 254 characters",
        ),
    ],
)
def test_a_field_that_is_looked_up_or_echoed_verbatim_is_refused_beyond_its_limit(
    where: tuple[str, ...], value: object, complaint: str
) -> None:
    body = review([("app", APP)])
    holder = body
    for key in where[:-1]:
        holder = holder[key]
    holder[where[-1]] = value
    with pytest.raises(MalformedReview) as raised:
        parse_review(body)
    assert complaint in raised.value.reason and len(raised.value.reason) < 300
