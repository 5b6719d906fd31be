"""`Metrics` without a server: reason classes, bounded label values, the key snapshot age."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from app.compose import needs_cluster
from app.config import parse_settings
from app.core.admission.decision import Decision
from app.core.admission.outcomes import INTERNAL_ERROR, ImageOutcome, Verdict
from app.core.admission.refusals import Refusal
from app.core.admission.review import AdmissionRequest, Operation
from app.core.admission.workloads import ContainerImage
from app.core.errors import (
    ConfigError,
)
from app.core.references import parse_reference
from app.core.trust.secretkeys import SecretRef
from app.registry.replies import outcome_of
from app.webhook.metrics import MAX_REGISTRY_LABELS, REFUSAL_LABELS, Metrics, reason_class
from tests.fakes import ManualClock

CONTAINER = ContainerImage("spec.containers[0]", "app", "reg.example/app:1")
REF = parse_reference("reg.example/app:1")


def outcome(
    verdict: Verdict, refusal: Refusal | None = None, reason: str = "", step: str | None = None
) -> ImageOutcome:
    return ImageOutcome(CONTAINER, verdict, reason, REF, step=step, refusal=refusal)


DENIED, WARNED = Verdict.DENIED, Verdict.WARNED
# The `reason` label values published in docs/metrics.md.
LABELS = {
    "signed", "exempt", "unmatched", "unchanged", "skipped-namespace", "untrusted-key", "unsigned", "threshold",
    "no-keys", "tlog", "timestamp", "certificate", "sct", "identity", "invalid-reference", "deadline", "request-limit",
    "not-found",
    "registry-auth", "registry-unavailable", "registry-error", "internal", "other",
}  # fmt: skip


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (outcome(Verdict.VERIFIED), "signed"),
        (outcome(Verdict.EXEMPT), "exempt"),
        (outcome(Verdict.UNMATCHED_ALLOWED), "unmatched"),
        (outcome(Verdict.UNCHANGED), "unchanged"),
        (outcome(Verdict.SKIPPED), "skipped-namespace"),
        (outcome(DENIED, Refusal.INVALID_REFERENCE), "invalid-reference"),
        (outcome(DENIED, Refusal.UNMATCHED), "unmatched"),
        (outcome(DENIED, Refusal.UNSIGNED), "unsigned"),
        (outcome(WARNED, Refusal.UNSIGNED), "unsigned"),
        (outcome(DENIED, Refusal.INVALID_SIGNATURE), "unsigned"),
        (outcome(DENIED, Refusal.INVALID_SIGNATURE, step="signature"), "unsigned"),
        (outcome(DENIED, Refusal.INVALID_SIGNATURE, step="tlog"), "tlog"),
        (outcome(WARNED, Refusal.INVALID_SIGNATURE, step="identity"), "identity"),
        (outcome(WARNED, Refusal.UNTRUSTED_SIGNER), "untrusted-key"),
        (outcome(DENIED, Refusal.TOO_FEW_SIGNERS), "threshold"),
        (outcome(DENIED, Refusal.NO_USABLE_KEYS), "no-keys"),
        (outcome(DENIED, Refusal.DEADLINE), "deadline"),
        (outcome(DENIED, Refusal.REQUEST_LIMIT), "request-limit"),
        (outcome(DENIED, Refusal.IMAGE_NOT_FOUND), "not-found"),
        (outcome(DENIED, Refusal.REGISTRY_AUTH), "registry-auth"),
        (outcome(DENIED, Refusal.REGISTRY_UNAVAILABLE), "registry-unavailable"),
        (outcome(DENIED, Refusal.REGISTRY_ERROR), "registry-error"),
        (outcome(DENIED, Refusal.VERIFICATION_ERROR), "internal"),
        (outcome(DENIED, Refusal.INTERNAL, INTERNAL_ERROR), "internal"),
        (outcome(DENIED), "other"),
    ],
)
def test_each_image_outcome_gets_a_reason_class_from_a_fixed_set(image: ImageOutcome, expected: str) -> None:
    assert reason_class(image) == expected


def test_every_refusal_class_has_a_published_label() -> None:
    assert set(REFUSAL_LABELS) == set(Refusal) and set(REFUSAL_LABELS.values()) <= LABELS


def test_the_label_comes_from_the_class_not_the_wording() -> None:
    quoted = 'no signature verified by the keys of policy "p" (1 signature(s) found: no policy matches)'
    assert reason_class(outcome(DENIED, Refusal.INVALID_SIGNATURE, quoted)) == "unsigned"
    assert reason_class(outcome(DENIED, Refusal.REGISTRY_AUTH, "no policy matches")) == "registry-auth"


def request(kind: str, operation: Operation = Operation.CREATE) -> AdmissionRequest:
    return AdmissionRequest(
        uid="u", operation=operation, kind=kind, subresource=None, namespace="ns", name="n",
        generate_name=None, user=None, images=(CONTAINER,),
    )  # fmt: skip


def samples(metrics: Metrics, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(s.labels.items()): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


def test_an_unknown_kind_is_counted_as_other_so_a_caller_cannot_grow_the_label_set() -> None:
    metrics = Metrics(CollectorRegistry(), "1.0")
    for kind in ("example.com/v1 Thing1", "example.com/v1 Thing2", "apps/v1 Deployment", "Pod"):
        metrics.reviewed(request(kind), Decision(False, "kind not reviewed"), 0.01)
    kinds = {dict(labels)["kind"] for labels in samples(metrics, "sigwebhook_reviews_total")}
    assert kinds == {"other", "Deployment", "Pod"}


def test_warned_and_internal_error_decisions_have_their_own_label() -> None:
    metrics = Metrics(CollectorRegistry(), "1.0")
    metrics.reviewed(request("Pod"), Decision(True, "warn", warnings=("w",)), 0.01)
    internal = Decision(False, "internal error", message=INTERNAL_ERROR, refusal=Refusal.INTERNAL)
    metrics.reviewed(request("Pod"), internal, 0.01)
    decisions = {dict(labels)["decision"] for labels in samples(metrics, "sigwebhook_reviews_total")}
    assert decisions == {"warned", "error"}


def test_registry_hosts_beyond_the_bound_are_counted_as_other() -> None:
    metrics = Metrics(CollectorRegistry(), "1.0")
    for i in range(MAX_REGISTRY_LABELS + 10):
        metrics.registry_answer(f"reg{i}.example", "ok")
    metrics.registry_answer("reg0.example", "ok")  # a known host keeps its label
    counts = {
        dict(labels)["registry"]: v
        for labels, v in samples(metrics, "sigwebhook_registry_requests_total").items()
    }
    assert len(counts) == MAX_REGISTRY_LABELS + 1
    assert counts["other"] == 10 and counts["reg0.example"] == 2


def test_the_key_snapshot_age_is_the_time_since_the_keys_last_changed() -> None:
    clock = ManualClock()
    taken = [clock.monotonic()]
    metrics = Metrics(CollectorRegistry(), "1.0", key_snapshot_taken_at=lambda: taken[-1], clock=clock)
    clock.advance(100)
    assert samples(metrics, "sigwebhook_key_snapshot_age_seconds") == {frozenset(): 100.0}
    taken.append(clock.monotonic() - 5)  # a Secret changed 5 s ago
    assert samples(metrics, "sigwebhook_key_snapshot_age_seconds") == {frozenset(): 5.0}


def test_without_keys_from_secrets_there_is_no_key_snapshot_age() -> None:
    assert samples(Metrics(CollectorRegistry(), "1.0"), "sigwebhook_key_snapshot_age_seconds") == {}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "ok"), (202, "ok"), (307, "redirect"), (401, "unauthorized"), (403, "forbidden"),
        (404, "not_found"), (429, "rate_limited"), (400, "client_error"), (503, "server_error"),
    ],
)  # fmt: skip
def test_registry_answers_are_named_by_a_fixed_set_of_outcomes(status: int, expected: str) -> None:
    assert outcome_of(status) == expected


def minimal(**extra: object) -> dict[str, object]:
    policy = {"name": "p", "images": ["reg.example/**"], "keys": [{"pem": "unused"}]}
    return {"server": {"tls": {"selfSignedDir": "tls"}}, "policies": [policy], **extra}


def test_metrics_and_pod_pull_secrets_are_off_unless_asked_for() -> None:
    settings = parse_settings(minimal())
    assert settings.metrics.enabled is False and settings.metrics.port == 9090
    no_key_secrets: frozenset[SecretRef] = frozenset()
    assert settings.registries.pod_pull_secrets is False and needs_cluster(settings, no_key_secrets) is False
    pod_pull_secrets = parse_settings(minimal(registries={"podPullSecrets": True}))
    assert needs_cluster(pod_pull_secrets, no_key_secrets) is True


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"metrics": {"port": 70000}}, "metrics.port"),
        ({"metrics": {"enabled": True, "path": "/m"}}, "metrics.path"),
        ({"registries": {"podPullSecrets": "sometimes"}}, "registries.podPullSecrets"),
    ],
)
def test_a_bad_metrics_or_pod_pull_secrets_setting_is_refused_naming_the_field(
    extra: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_settings(minimal(**extra))


def test_registries_the_policies_name_keep_their_label_however_many_other_hosts_pods_name() -> None:
    metrics = Metrics(CollectorRegistry(), "1.0", known_registries={"registry.example.com"})
    for i in range(MAX_REGISTRY_LABELS + 10):
        metrics.registry_answer(f"attacker{i}.example", "ok")
    metrics.registry_answer("registry.example.com", "ok")
    hosts = {dict(labels)["registry"] for labels in samples(metrics, "sigwebhook_registry_requests_total")}
    assert "registry.example.com" in hosts and "other" in hosts
    assert len(hosts) == MAX_REGISTRY_LABELS + 2  # the bound, the named registry, and `other`


def test_the_registry_hosts_a_policy_names_literally() -> None:
    from app.core.admission.patterns import ImagePattern
    from app.core.admission.policy import AdmissionPolicy, Policy
    from tests.core.signers import ecdsa

    patterns = ("registry.example.com/team/**", "nginx", "*.corp.example/**", "**", "localhost:5000/x")
    policy = AdmissionPolicy((Policy("p", tuple(ImagePattern(p) for p in patterns), (ecdsa("a").key,)),))
    assert policy.registry_hosts() == {"registry.example.com", "docker.io", "localhost:5000"}
