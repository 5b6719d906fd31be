"""The audit record schema, and sigwebhook's validator of it checked against the reference one.

`sigwebhook audit log` validates with `app.core.audits.schema` (no runtime dependency); each case
below is also run through `jsonschema` (Draft 2020-12), and both must agree, open and closed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.admission.audit import AUDIT_VERSION, audit_record, malformed_record
from app.core.admission.decision import Decision, ImageOutcome, Verdict
from app.core.admission.review import parse_review
from app.core.admission.workloads import ContainerImage
from app.core.audits.schema import SchemaValidator, audit_schema, audit_schema_document
from tests.support.auditschema import reference_validator
from tests.webhook.reviews import review

AT = datetime(2026, 12, 4, 3, 47, 35, 321000, tzinfo=UTC)


def _review_record() -> dict[str, Any]:
    request = parse_review(review([("app", "registry.example.com/app:1")], uid="u-1"))
    outcome = ImageOutcome(ContainerImage("spec.containers[0]", "app", "registry.example.com/app:1"),
                           Verdict.DENIED, "no signatures", policies=("prod",))  # fmt: skip
    return audit_record(request, Decision(False, "1 image(s) denied", (outcome,), "denied"), AT, 3.0)


def _refused_record() -> dict[str, Any]:
    return malformed_record({"request": {"uid": "u-2"}}, "kind must be AdmissionReview", "validate", AT, 0.4)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = record
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.pop(name)


# (change to a valid review record, valid when objects are open, valid when closed)
CASES: list[tuple[str, Callable[[dict[str, Any]], None], bool, bool]] = [
    ("unchanged", lambda r: None, True, True),
    ("a field the schema does not list", _set("identity", "x"), True, False),
    ("a field the schema does not list, in an image", _set("images.0.tlog", {}), True, False),
    ("no version", _drop("version"), False, False),
    ("version 2", _set("version", 2), False, False),
    ("version true", _set("version", True), False, False),
    ("version 1.0 (the same number)", _set("version", 1.0), True, True),
    ("time without Z", _set("time", "2026-12-04T03:47:35"), False, False),
    ("decision maybe", _set("decision", "maybe"), False, False),
    ("decision refused on a review", _set("decision", "refused"), False, False),
    ("dry_run as a string", _set("dry_run", "false"), False, False),
    ("duration negative", _set("duration_ms", -1), False, False),
    ("duration as a boolean", _set("duration_ms", True), False, False),
    ("an unknown verdict", _set("images.0.verdict", "ok"), False, False),
    ("a bad digest", _set("images.0.digest", "sha256"), False, False),
    ("a digest", _set("images.0.digest", "sha256:" + "a" * 64), True, True),
    ("images not a list", _set("images", {}), False, False),
    ("a policy that is not a name", _set("images.0.policies", [1]), False, False),
    (
        "a signature without a key",
        _set("images.0.signatures", [{"format": "f", "key_fingerprint": "k"}]),
        False,
        False,
    ),
    ("pinned on a mutate record", _set("images.0.pinned", None), True, True),
    ("no namespace", _drop("namespace"), False, False),
]


@pytest.mark.parametrize(
    ("change", "open_ok", "closed_ok"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_validator_agrees_with_the_reference_implementation(
    change: Callable[[dict[str, Any]], None], open_ok: bool, closed_ok: bool
) -> None:
    record = _review_record()
    change(record)
    for closed, expected in ((False, open_ok), (True, closed_ok)):
        ours = audit_schema().errors(record, closed=closed)
        theirs = list(reference_validator(closed_objects=closed).iter_errors(record))
        assert (not ours, not theirs) == (expected, expected), (closed, ours, [e.message for e in theirs])


def test_a_refused_record_is_valid_and_may_not_list_images() -> None:
    record = _refused_record()
    assert audit_schema().errors(record, closed=True) == []
    record["images"] = [_review_record()["images"][0]]
    assert audit_schema().errors(record) == ["images: more than 0 items"]
    assert not reference_validator().is_valid(record)


def test_errors_name_the_field_and_the_problem() -> None:
    record = _review_record()
    record["images"][0]["verdict"] = "ok"
    del record["user"]
    assert audit_schema().errors(record) == [
        "user: missing",
        'images[0].verdict: "ok" is not one of "verified", "denied", "warned", "exempt", '
        '"unmatched-allowed", "unchanged", "skipped"',
    ]


def test_the_version_written_is_the_one_the_schema_describes() -> None:
    document = audit_schema_document()
    assert document["$defs"]["version"]["const"] == AUDIT_VERSION
    assert _review_record()["version"] == _refused_record()["version"] == AUDIT_VERSION


def test_a_schema_keyword_the_validator_does_not_check_is_refused_not_ignored() -> None:
    document = copy.deepcopy(audit_schema_document())
    document["$defs"]["image"]["properties"]["image"]["maxLength"] = 10
    with pytest.raises(ValueError, match=r"does not check: \['maxLength'\]"):
        SchemaValidator(document)
