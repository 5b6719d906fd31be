"""The composition root's part for `sigwebhook audit scan`: the webhook's config → the same policy,
keys read once from their Secrets, the same registry settings (pull Secret read once), verifier
options and verdict cache → what the core's scan (`app.core.audits.scan`) runs with.

Kept apart from `app.compose` (the webhook and the CLI's registry access) because only `audit scan`
needs it; it builds through the same functions there, so the scan verifies as admission does.
Nothing is built at import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from app.compose import build_verifier, verdict_cache, verify_options
from app.compose.registries import build_registry, webhook_registry_settings
from app.core.admission.decision import ImageVerifier
from app.core.admission.policy import AdmissionPolicy
from app.core.trust.secretkeys import KeySnapshot
from app.registry.credentials import Credential

if TYPE_CHECKING:
    from app.config import Settings
    from app.kube.client import KubeApi


@dataclasses.dataclass
class ClusterScan:
    """What `audit scan` runs: the webhook's policy, the keys as they are now, its verifier and
    deadline, and the API server to list from. `aclose()` closes the registry client."""

    policy: AdmissionPolicy
    snapshot: KeySnapshot
    verifier: ImageVerifier
    deadline_seconds: float
    api: KubeApi
    aclose: Callable[[], Awaitable[None]]


def build_scan(settings: Settings, kubeconfig: Path | None, kube_api: KubeApi | None = None) -> ClusterScan:
    """The scan's parts from the webhook's validated settings. The API server is the one `kubeconfig`
    names (None: the in-cluster service account), not the config's: the scan runs where its user is.
    Key and pull Secrets are read once; one that cannot be read stops the scan (`ConfigError`)."""
    from app.config import admission_policy
    from app.kube.client import connect
    from app.kube.keysecrets import SecretKeyStore
    from app.kube.webhookpullsecret import PullSecretStore

    policy = admission_policy(settings)
    api = kube_api or connect(kubeconfig)
    snapshot = SecretKeyStore(api, policy.secrets()).load() if policy.secrets() else KeySnapshot()
    credentials: Callable[[], Mapping[str, Credential]] | None = None
    pull_secret = settings.registries.pull_secret
    if pull_secret is not None:
        pulls = PullSecretStore(api, [pull_secret])
        pulls.load()
        credentials = pulls.credentials
    registry = build_registry(webhook_registry_settings(settings, credentials))  # httpcore traces off
    verifier = build_verifier(registry, verdict_cache(settings), verify_options(settings))
    return ClusterScan(policy, snapshot, verifier, settings.deadline_seconds, api, registry.aclose)
