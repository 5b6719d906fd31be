"""Prometheus metrics: what the webhook decided, why, how fast, and how its registries answered
(the metrics and their labels: docs/metrics.md).

Every collector lives in a `CollectorRegistry` the composition root builds (no module-level
registry: two webhooks in one process, as in the tests, never mix their counts) and is served on a
port of its own (`app.webhook.metrics_server`), never on the admission port. Label values are
bounded, so no caller can create series: kinds and reasons come from fixed sets, and at most
`MAX_REGISTRY_LABELS` registry hosts get a label of their own besides those the policies name.
Nothing here blocks or does I/O.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.clock import SYSTEM_CLOCK
from app.core.admission.decision import Decision
from app.core.admission.outcomes import ImageOutcome, Verdict
from app.core.admission.refusals import Refusal
from app.core.admission.review import AdmissionRequest
from app.core.admission.workloads import WORKLOAD_KINDS
from app.core.ports import Clock, VerdictCache

MAX_REGISTRY_LABELS = 50
OTHER = "other"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 10.0, 30.0)
_KINDS = frozenset({"Pod", "EphemeralContainers", *WORKLOAD_KINDS})
_OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})

# The `reason` label of an image verdict: its verdict when admitted; else the verification step
# that refused its signatures, for the keyless and transparency-log steps an operator watches for;
# else the class of its refusal, by table (label values published before the core carried `Refusal`).
_ADMITTED = {
    Verdict.VERIFIED: "signed",
    Verdict.EXEMPT: "exempt",
    Verdict.UNMATCHED_ALLOWED: "unmatched",
    Verdict.UNCHANGED: "unchanged",
    Verdict.SKIPPED: "skipped-namespace",
}
_STEP_REASONS = frozenset({"tlog", "timestamp", "certificate", "sct", "identity"})  # of NotVerified.STEPS
REFUSAL_LABELS: Mapping[Refusal, str] = {
    Refusal.INVALID_REFERENCE: "invalid-reference",
    Refusal.UNMATCHED: "unmatched",
    Refusal.NO_USABLE_KEYS: "no-keys",
    Refusal.UNSIGNED: "unsigned",
    Refusal.INVALID_SIGNATURE: "unsigned",  # no signature verified by the policy's signers
    Refusal.UNTRUSTED_SIGNER: "untrusted-key",
    Refusal.TOO_FEW_SIGNERS: "threshold",
    Refusal.DEADLINE: "deadline",
    Refusal.REQUEST_LIMIT: "request-limit",
    Refusal.IMAGE_NOT_FOUND: "not-found",
    Refusal.REGISTRY_AUTH: "registry-auth",
    Refusal.REGISTRY_UNAVAILABLE: "registry-unavailable",
    Refusal.REGISTRY_ERROR: "registry-error",
    Refusal.VERIFICATION_ERROR: "internal",
    Refusal.INTERNAL: "internal",
    Refusal.TOO_MANY_IMAGES: OTHER,  # a whole object's refusal, never an image's
    Refusal.KIND_NOT_REVIEWED: OTHER,
}


def reason_class(outcome: ImageOutcome) -> str:
    """A bounded label for why an image got its verdict: `signed`, `exempt`, `unmatched`,
    `unchanged`, `skipped-namespace`, `untrusted-key`, `unsigned`, `threshold`, `no-keys`,
    `tlog`, `timestamp`, `certificate`, `sct`, `identity`, `invalid-reference`, `deadline`,
    `request-limit`, `not-found`, `registry-auth`, `registry-unavailable`, `registry-error`, `internal` or `other`
    (a refused outcome without a class). Never read from the reason's wording."""
    admitted = _ADMITTED.get(outcome.verdict)
    if admitted is not None:
        return admitted
    if outcome.step in _STEP_REASONS:
        return outcome.step
    return REFUSAL_LABELS[outcome.refusal] if outcome.refusal is not None else OTHER


class Metrics:
    """The webhook's collectors, registered in `registry`, and the calls that update them."""

    def __init__(
        self,
        registry: CollectorRegistry,
        version: str,
        key_snapshot_taken_at: Callable[[], float] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        known_registries: Iterable[str] = (),
    ) -> None:
        self.registry = registry
        self.reviews = Counter(
            "sigwebhook_reviews", "AdmissionReviews answered, by decision, kind and operation.",
            ["decision", "kind", "operation"], registry=registry,
        )  # fmt: skip
        self.image_verdicts = Counter(
            "sigwebhook_image_verdicts", "Images judged, by verdict and reason class.",
            ["verdict", "reason"], registry=registry,
        )  # fmt: skip
        self.review_duration = Histogram(
            "sigwebhook_review_duration_seconds", "Time to answer an AdmissionReview.",
            ["kind"], buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self.registry_requests = Counter(
            "sigwebhook_registry_requests", "HTTP exchanges with registries, by host and outcome.",
            ["registry", "outcome"], registry=registry,
        )  # fmt: skip
        self.verdict_cache = Counter(
            "sigwebhook_verdict_cache_requests", "Verdict cache look-ups, by result (hit, miss).",
            ["result"], registry=registry,
        )  # fmt: skip
        build = Gauge(
            "sigwebhook_build_info", "sigwebhook's version and Python version (always 1).",
            ["version", "python"], registry=registry,
        )  # fmt: skip
        build.labels(version=version, python=platform.python_version()).set(1)
        if key_snapshot_taken_at is not None:
            age = Gauge(
                "sigwebhook_key_snapshot_age_seconds",
                "Seconds since the trusted keys last changed or were loaded.",
                registry=registry,
            )
            age.set_function(lambda: max(0.0, clock.monotonic() - key_snapshot_taken_at()))
        # The hosts the policies name always keep their own label, beyond the first-seen bound, so a
        # pod naming many other hosts cannot push them into `other`.
        self._known = frozenset(known_registries)
        self._hosts: set[str] = set()
        self._hosts_lock = threading.Lock()

    def reviewed(self, request: AdmissionRequest, decision: Decision, seconds: float) -> None:
        """Count one answered review and the verdict of each of its images."""
        kind = _kind(request)
        self.reviews.labels(_decision(decision), kind, _operation(request.operation.value)).inc()
        self.review_duration.labels(kind).observe(seconds)
        for outcome in decision.images:
            self.image_verdicts.labels(outcome.verdict.value, reason_class(outcome)).inc()

    def malformed(self, seconds: float) -> None:
        """Count a review refused with HTTP 400 (not an AdmissionReview)."""
        self.reviews.labels("malformed", OTHER, OTHER).inc()
        self.review_duration.labels(OTHER).observe(seconds)

    def registry_answer(self, host: str, outcome: str) -> None:
        """Count one registry exchange (`outcome` from `app.registry.replies.outcome_of`)."""
        self.registry_requests.labels(self._host_label(host), outcome).inc()

    def count_lookups(self, caches: Mapping[str, LookupCounts]) -> None:
        """Export the pull-Secret caches' counts (`app.kube.cachedreads.CachedReads`) by object kind as
        `sigwebhook_pull_secret_lookups_total{object,result}` (`hit` or `api_call`)."""
        self.registry.register(_LookupCollector(caches))

    def registry_load(
        self, in_flight: Callable[[], int], waiting: Callable[[], int], rebuilds: Callable[[], int]
    ) -> None:
        """Export the registry requests in flight and waiting for a slot (`app.registry.gate`) and
        the connection pools replaced after stalling (`app.registry.pools`)."""
        self.registry.register(_RegistryLoadCollector(in_flight, waiting, rebuilds))

    def counting(self, cache: VerdictCache) -> VerdictCache:
        """`cache`, counting its hits and misses here."""
        return _CountingCache(cache, self.verdict_cache)

    def _host_label(self, host: str) -> str:
        if host in self._known:
            return host
        with self._hosts_lock:  # registry traffic may come from several event loops' threads
            if host in self._hosts:
                return host
            if len(self._hosts) < MAX_REGISTRY_LABELS:
                self._hosts.add(host)
                return host
        return OTHER


class LookupCounts(Protocol):
    """What `count_lookups` reads: a cache's hits and the API calls it made."""

    hits: int
    loads: int


class _LookupCollector(Collector):
    def __init__(self, caches: Mapping[str, LookupCounts]) -> None:
        self._caches = caches

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "sigwebhook_pull_secret_lookups",
            "Pod pull Secret and ServiceAccount look-ups, answered from the cache (hit) or the API server.",
            labels=["object", "result"],
        )
        for kind, cache in self._caches.items():
            family.add_metric([kind, "hit"], cache.hits)
            family.add_metric([kind, "api_call"], cache.loads)
        yield family


class _RegistryLoadCollector(Collector):
    def __init__(
        self, in_flight: Callable[[], int], waiting: Callable[[], int], rebuilds: Callable[[], int]
    ) -> None:
        self._in_flight, self._waiting, self._rebuilds = in_flight, waiting, rebuilds

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(
            "sigwebhook_registry_requests_in_flight",
            "Registry requests being sent now.",
            value=self._in_flight(),
        )
        yield GaugeMetricFamily(
            "sigwebhook_registry_requests_waiting",
            "Registry requests waiting for a slot (maxRequestsInFlight, maxRequestsPerRegistry).",
            value=self._waiting(),
        )
        yield CounterMetricFamily(
            "sigwebhook_registry_pool_rebuilds",
            "Registry connection pools replaced after they stopped making progress.",
            value=self._rebuilds(),
        )


class _CountingCache:
    def __init__(self, inner: VerdictCache, counter: Counter) -> None:
        self._inner, self._counter = inner, counter

    def get(self, key: Hashable) -> object | None:
        value = self._inner.get(key)
        self._counter.labels("miss" if value is None else "hit").inc()
        return value

    def put(self, key: Hashable, value: object) -> None:
        self._inner.put(key, value)

    def refresh_due(self, key: Hashable) -> bool:
        return self._inner.refresh_due(key)


def _decision(decision: Decision) -> str:
    if decision.allowed:
        return "warned" if decision.warnings else "allowed"
    return "error" if decision.refusal is Refusal.INTERNAL else "denied"


def _kind(request: AdmissionRequest) -> str:
    kind = request.kind.rpartition(" ")[2]  # `apps/v1 Deployment` → `Deployment`
    return kind if kind in _KINDS else OTHER


def _operation(operation: str) -> str:
    return operation if operation in _OPERATIONS else OTHER
