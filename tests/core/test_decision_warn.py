"""Warn mode and workloads in the pure decision (the scripted verifier of `tests.core.decisions`)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from app.core.admission.audit import audit_record
from app.core.admission.decision import Verdict
from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import Mode, Policy
from app.core.admission.review import parse_review
from app.core.errors import RegistryUnavailable
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from tests.core.decisions import ALICE, APP, BOB, DB, PROD, ScriptedVerifier, policy, run
from tests.webhook.reviews import review, workload, workload_review

PROD_WARN = Policy("prod", (ImagePattern("registry.example.com/**"),), (ALICE,), mode=Mode.WARN)
DB_WARN = Policy("db-audit", (ImagePattern("registry.example.com/db/**"),), (BOB,), mode=Mode.WARN)
NO_SIG_PROD = 'no signature verified by the keys of policy "prod" (no signatures found)'


async def test_an_image_failing_only_a_warn_policy_is_admitted_with_a_warning() -> None:
    decision = await run(review([("app", APP)]), policy(PROD_WARN), ScriptedVerifier())
    assert decision.allowed and decision.message is None and decision.would_deny
    assert decision.warnings == (f"spec.containers[0] (app) {APP}: {NO_SIG_PROD}",)
    assert decision.images[0].verdict is Verdict.WARNED


async def test_an_enforce_policy_failing_still_denies_and_names_the_warn_failures_too() -> None:
    decision = await run(review([("db", DB)]), policy(PROD, DB_WARN), ScriptedVerifier())
    assert not decision.allowed
    assert decision.message == (
        f"spec.containers[0] (db) {DB}: {NO_SIG_PROD}; "
        'no signature verified by the keys of policy "db-audit" (no signatures found)'
    )


async def test_an_image_passing_enforce_but_failing_a_warn_policy_is_warned() -> None:
    verifier = ScriptedVerifier(signed={DB: (ALICE,)})
    decision = await run(review([("db", DB)]), policy(PROD, DB_WARN), verifier)
    assert decision.allowed and decision.images[0].verdict is Verdict.WARNED
    assert decision.warnings == (
        f"spec.containers[0] (db) {DB}: "
        'no signature verified by the keys of policy "db-audit" (signed only by keys this policy does not trust)',
    )
    assert [s.signer_label for s in decision.images[0].signatures] == [ALICE.name]


async def test_warned_and_denied_images_of_one_pod_give_a_deny_with_warnings() -> None:
    body = review([("app", APP), ("other", "other.io/tools/shell:1")])
    decision = await run(body, policy(PROD_WARN), ScriptedVerifier())
    assert not decision.allowed
    assert (
        decision.message
        == "spec.containers[1] (other) other.io/tools/shell:1: no policy matches this image (unmatched: deny)"
    )
    assert decision.warnings == (f"spec.containers[0] (app) {APP}: {NO_SIG_PROD}",)


async def test_a_registry_error_under_warn_only_policies_warns() -> None:
    verifier = ScriptedVerifier(errors={APP: RegistryUnavailable("registry.example.com is unavailable")})
    decision = await run(review([("app", APP)]), policy(PROD_WARN), verifier)
    assert decision.allowed
    assert decision.warnings == (f"spec.containers[0] (app) {APP}: registry.example.com is unavailable",)


async def test_a_warn_policy_without_usable_keys_warns_and_the_enforce_policy_still_decides() -> None:
    missing = SecretRef("sigwebhook", "gone")
    audit_only = Policy(
        "db-audit", (ImagePattern("registry.example.com/db/**"),), secrets=(missing,), mode=Mode.WARN
    )
    verifier = ScriptedVerifier(signed={DB: (ALICE,)})
    decision = await run(review([("db", DB)]), policy(PROD, audit_only), verifier, snapshot=KeySnapshot())
    assert decision.allowed and decision.images[0].verdict is Verdict.WARNED
    assert 'policy "db-audit" has no usable keys' in decision.warnings[0]
    assert verifier.calls  # the enforce policy was still checked against the registry
    unsigned = await run(review([("db", DB)]), policy(PROD, audit_only), ScriptedVerifier())
    assert not unsigned.allowed


async def test_the_audit_record_of_a_warned_review_says_allow_and_would_deny() -> None:
    request_body = review([("app", APP)])
    decision = await run(request_body, policy(PROD_WARN), ScriptedVerifier())
    record = audit_record(parse_review(request_body), decision, datetime.now(UTC), 1.0)
    assert (record["decision"], record["would_deny"]) == ("allow", True)
    assert record["warnings"] == list(decision.warnings)
    assert record["images"][0]["verdict"] == "warned" and record["images"][0]["reason"] == NO_SIG_PROD


async def test_a_denied_workload_names_its_kind_and_name_on_every_line() -> None:
    body = workload_review("apps/v1 Deployment", [("app", APP)], init=[("migrate", DB)])
    decision = await run(body, policy(PROD), ScriptedVerifier(signed={DB: (ALICE,)}))
    assert not decision.allowed
    assert decision.message == f"Deployment web: spec.template.spec.containers[0] (app) {APP}: {NO_SIG_PROD}"


async def test_a_signed_cronjob_is_allowed_with_its_template_images_verified() -> None:
    body = workload_review("batch/v1beta1 CronJob", [("app", APP)], init=[("migrate", DB)])
    verifier = ScriptedVerifier(signed={APP: (ALICE,), DB: (ALICE,)})
    decision = await run(body, policy(PROD), verifier)
    assert decision.allowed and {name for name, _ in verifier.calls} == {APP, DB}


async def test_a_workload_update_that_changes_no_image_calls_no_registry() -> None:
    old = workload("apps/v1 DaemonSet", [("app", APP)])
    new = copy.deepcopy(old)
    new["spec"]["template"]["metadata"]["labels"]["rev"] = "2"
    verifier = ScriptedVerifier()
    body = workload_review("apps/v1 DaemonSet", operation="UPDATE", obj=new, old=old)
    decision = await run(body, policy(PROD), verifier)
    assert decision.allowed and verifier.calls == [] and decision.summary == "no image changed"


async def test_a_workload_in_a_skipped_namespace_is_not_checked() -> None:
    verifier = ScriptedVerifier()
    body = workload_review("batch/v1 Job", [("app", APP)], namespace="kube-system")
    decision = await run(body, policy(PROD), verifier)
    assert decision.allowed and verifier.calls == []
