"""The composition root: the one place that builds sigwebhook's objects from settings.

settings → `RegistrySettings` → `OciRegistry` (the `Registry`/`RegistryWriter` adapter; built in
`app.compose.registries`) → `Verifier`.
The CLI and the webhook both build through here, so they reach registries and verify identically;
`audit scan`'s parts are built in `app.compose.scan` from the same functions. Nothing is built at
import time; every function builds fresh objects when called.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from app.clock import SYSTEM_CLOCK
from app.compose.registries import (  # the CLI, benchmarks and scripts call them as `compose.…`
    build_registry as build_registry,
)
from app.compose.registries import (
    open_registry as open_registry,
)
from app.compose.registries import (
    registry_settings_from_cli as registry_settings_from_cli,
)
from app.compose.registries import (
    webhook_registry_settings,
)
from app.core.ports import Clock, KeyStore, Lifecycle, VerdictCache
from app.core.trust.secretkeys import SecretRef, StaticKeyStore
from app.core.verification.verifier import Verifier, VerifyOptions
from app.registry import OciRegistry
from app.registry.credentials import Credential
from app.registry.gate import ExchangeGate
from app.registry.pools import Connect, PoolHealth
from app.registry.redaction import keep_response_headers_out_of_logs
from app.registry.settings import RegistrySettings
from app.registry.transport import LEASE_GRACE_SECONDS

if TYPE_CHECKING:  # pydantic settings and the webhook's TLS: imported when the webhook is built
    from app.config import Settings
    from app.kube.client import KubeApi
    from app.webhook.metrics import Metrics
    from app.webhook.metrics_server import MetricsServer
    from app.webhook.tls import ServingCertificate


def build_verifier(
    registry: OciRegistry,
    cache: VerdictCache | None = None,
    options: VerifyOptions | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Verifier:
    """The verifier over `registry`, with an optional verdict cache; `clock` tells it the time."""
    return Verifier(registry, cache=cache, options=options, now=clock.now)


# --- the webhook (`sigwebhook serve`) ------------------------------------------------------------
# Settings → policy (file and inline keys loaded now) → key store (Secrets watched by `app.kube` when
# a policy names one) → registry (+ pull Secret credentials) → verifier → reviewer → FastAPI app.
# Kubernetes and FastAPI are imported inside `build_webhook`: the CLI's other commands never need them.


@dataclasses.dataclass
class Webhook:
    """The built webhook: the ASGI app, its certificate and URL, and the background parts (Secret
    watchers) that `start()` loads once (raising `ConfigError` for a Secret without usable keys)
    and then follows until `stop()`."""

    app: Any  # fastapi.FastAPI
    certificate: ServingCertificate
    url: str
    background: tuple[Lifecycle, ...] = ()
    metrics: MetricsServer | None = None  # also in `background`; `metrics.port` once started

    def start(self) -> None:
        started: list[Lifecycle] = []
        try:
            for part in self.background:
                part.start()
                started.append(part)
        except BaseException:
            for part in reversed(started):
                part.stop()
            raise

    def stop(self) -> None:
        for part in reversed(self.background):
            part.stop()


def build_webhook(
    settings: Settings,
    audit: Callable[[str], None] | None = None,
    kube_api: KubeApi | None = None,
    revision: str | None = None,
    registry_transport: Connect | None = None,
) -> Webhook:
    """Everything `serve` runs, built from validated settings (`ConfigError` naming the field).
    `audit` receives one JSON line per review (default: stdout); `kube_api` replaces the connection
    `kubernetes.kubeconfig` describes (tests hand in an adapter over a stand-in client); `revision`
    is what `/readyz` reports (the chart's digest of the image and config); `registry_transport`
    replaces how a registry origin's connection pool is made (tests: faults no registry has)."""
    from app.config import policy_source
    from app.webhook.app import create_app
    from app.webhook.auditsink import AuditWriter
    from app.webhook.podverifiers import PodVerifiers
    from app.webhook.review import Reviewer
    from app.webhook.tls import configured_certificate, self_signed_certificate

    keep_response_headers_out_of_logs()
    policies = policy_source(settings)
    policy = policies.current()
    watched = policy.secrets()
    keys: KeyStore = StaticKeyStore()
    background: list[Lifecycle] = []
    pulls = pod_secrets = None
    clock: Clock = SYSTEM_CLOCK  # the one time source every part below is handed
    if needs_cluster(settings, watched):  # only then is the kubernetes client imported and configured
        from app.kube.client import connect
        from app.kube.keysecrets import SecretKeyStore
        from app.kube.webhookpullsecret import PullSecretStore

        api = kube_api or connect(settings.kubernetes.kubeconfig)
        if watched:
            secret_keys = SecretKeyStore(api, watched, clock)
            keys = secret_keys
            background.append(secret_keys)
        if settings.registries.pull_secret is not None:
            pulls = PullSecretStore(api, [settings.registries.pull_secret], clock)
            background.append(pulls)
        if settings.registries.pod_pull_secrets:  # opt-in: needs get on secrets + serviceaccounts
            from app.kube.podpullsecrets import PodPullSecrets

            pod_secrets = PodPullSecrets(api, clock=clock)
    credentials: Callable[[], Mapping[str, Credential]] | None = (
        pulls.credentials if pulls is not None else None
    )
    registry_settings = webhook_registry_settings(settings, credentials)
    # the hosts registry requests go to for the registries the policies name (Docker Hub's API host)
    named = {urllib.parse.urlsplit(registry_settings.base_url(h)).netloc for h in policy.registry_hosts()}
    metrics, metrics_server = _metrics(settings, clock, keys if watched else None, named)
    if metrics_server is not None:
        background.append(metrics_server)
    if metrics is not None and pod_secrets is not None:
        metrics.count_lookups({"secret": pod_secrets.secrets, "serviceaccount": pod_secrets.accounts})
    options = verify_options(settings)
    cache = verdict_cache(settings, clock)
    if cache is not None and metrics is not None:
        cache = metrics.counting(cache)
    # One gate and one pool health for every registry client (one per set of pull credentials).
    limits = settings.registries
    gate = ExchangeGate(
        limits.max_requests_in_flight,
        limits.max_requests_per_registry,
        clock,
        registry_settings.timeouts.total + LEASE_GRACE_SECONDS,
    )
    health = PoolHealth()
    if metrics is not None:
        metrics.registry_load(lambda: gate.in_flight, lambda: gate.waiting, lambda: health.rebuilds)

    def build(registry_settings: RegistrySettings) -> tuple[Verifier, Callable[[], Awaitable[None]]]:
        registry = OciRegistry(registry_settings, clock, gate=gate, health=health, connect=registry_transport)
        if metrics is not None:
            registry.stats.listener = metrics.registry_answer
        return build_verifier(registry, cache, options, clock), registry.aclose

    verifier, close_registry = build(registry_settings)
    verifiers = PodVerifiers(verifier, registry_settings, build, pod_secrets, clock=clock)
    closes = [close_registry, verifiers.aclose]
    if audit is None:  # stdout, one write per turn of the event loop; what is left is written at shutdown
        writer = AuditWriter()
        audit = writer
        closes.append(_async(writer.flush))
    reviewer = Reviewer(
        policies, keys, verifier, settings.deadline_seconds, audit,
        verifier_for=verifiers.for_request if pod_secrets is not None else None, observer=metrics,
        clock=clock, cached=verifier.cached, reuse_tags_on_validate=limits.tag_reuse_on_validate,
    )  # fmt: skip
    tls = settings.server.tls
    if tls.cert_file is not None and tls.key_file is not None:
        certificate = configured_certificate(tls.cert_file, tls.key_file)
    else:
        assert tls.self_signed_dir is not None  # TlsConfig guarantees one of the two
        certificate = self_signed_certificate(tls.self_signed_dir, clock)

    def ready() -> bool:
        return keys.loaded() and (pulls is None or pulls.loaded())

    app = create_app(
        reviewer, ready=ready, broken=health.problem, on_shutdown=closes, docs=settings.server.docs,
        revision=revision,
    )  # fmt: skip
    host = settings.server.host
    shown = "localhost" if host in ("0.0.0.0", "::", "127.0.0.1", "localhost") else host
    url = f"https://{shown}:{settings.server.port}"
    return Webhook(app, certificate, url, tuple(background), metrics_server)


def _async(action: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        action()

    return run


def verify_options(settings: Settings) -> VerifyOptions:
    """The verifier's options from the config (`signatures`)."""
    return VerifyOptions(accepted_predicate_types=frozenset(settings.signatures.accepted_predicate_types))


def verdict_cache(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> VerdictCache | None:
    """The verdict cache the config's `verdictCache` asks for; None when its TTL is 0."""
    from app.webhook.cache import TtlVerdictCache

    caching = settings.verdict_cache
    if caching.ttl_seconds <= 0:
        return None
    return TtlVerdictCache(caching.ttl_seconds, caching.max_entries, clock, caching.negative_ttl_seconds)


def needs_cluster(settings: Settings, watched: Collection[SecretRef]) -> bool:
    """True when the webhook reaches the API server: key Secrets to watch (`watched`), a pull Secret,
    or the pods' own pull Secrets."""
    registries = settings.registries
    return bool(watched) or registries.pull_secret is not None or registries.pod_pull_secrets


def _metrics(
    settings: Settings, clock: Clock, keys: KeyStore | None, registries: Iterable[str] = ()
) -> tuple[Metrics | None, MetricsServer | None]:
    """The collectors in a registry of their own and the server for them, when `metrics.enabled`;
    the key snapshot age is exported when keys come from Secrets (`keys`); `registries` always get a
    label of their own."""
    if not settings.metrics.enabled:
        return None, None
    from prometheus_client import CollectorRegistry

    from app.webhook.metrics import Metrics
    from app.webhook.metrics_server import MetricsServer

    registry = CollectorRegistry(auto_describe=True)
    taken_at = (lambda: keys.snapshot().taken_at) if keys is not None else None
    metrics = Metrics(registry, installed_version(), taken_at, clock, registries)
    return metrics, MetricsServer(registry, settings.metrics.host, settings.metrics.port)


def installed_version() -> str:
    """The installed package's version, or "unknown" when run from a tree without one."""
    from importlib import metadata

    try:
        return metadata.version("sigwebhook")
    except metadata.PackageNotFoundError:
        return "unknown"
