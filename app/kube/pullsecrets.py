"""`PullSecretStore`: registry credentials from `kubernetes.io/dockerconfigjson` Secrets.

The Secret holds a Docker config under `.dockerconfigjson` (core/v1 Secret types); the legacy
`kubernetes.io/dockercfg` type holds the bare `auths` map under `.dockercfg`. Parsing is the
registry adapter's (`app.registry.credentials.parse_docker_config`). Secrets follow the
`TrackedSecrets` rules: strict at start-up, last good credentials kept when a Secret stops parsing,
credentials dropped (anonymous pulls) when it is deleted. With several Secrets, the first one
configured that has credentials for a registry wins, as kubelet tries `imagePullSecrets` in order.
The registry adapter reads `credentials()` per request; nothing here is on the admission path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from app.core.errors import ConfigError
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, Secret
from app.kube.secrets import WATCH_TIMEOUT_SECONDS
from app.kube.tracked import TrackedSecrets, TrackedStore
from app.registry.credentials import Credential, parse_docker_config

DOCKER_CONFIG_JSON = ("kubernetes.io/dockerconfigjson", ".dockerconfigjson")
DOCKER_CFG = ("kubernetes.io/dockercfg", ".dockercfg")


@dataclass(frozen=True)
class PullCredentials:
    """Credentials by normalised registry host at one moment, and why any Secret gave none."""

    credentials: Mapping[str, Credential] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    problems: Mapping[SecretRef, str] = field(default_factory=lambda: MappingProxyType({}))
    taken_at: float = 0.0


def parse_pull_secret(secret: Secret) -> Mapping[str, Credential]:
    """Credentials from one Secret; `ConfigError` (never quoting a secret value) when unusable."""
    entry = DOCKER_CFG[1] if secret.type == DOCKER_CFG[0] else DOCKER_CONFIG_JSON[1]
    if secret.type not in (DOCKER_CONFIG_JSON[0], DOCKER_CFG[0]):
        raise ConfigError(f"Secret {secret.ref} has type {secret.type!r}, expected {DOCKER_CONFIG_JSON[0]!r}")
    raw = secret.data.get(entry)
    if raw is None:
        raise ConfigError(f"Secret {secret.ref} has no {entry} entry")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"Secret {secret.ref} entry {entry} is not JSON") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"Secret {secret.ref} entry {entry} must be a JSON object")
    if entry == DOCKER_CFG[1]:
        document = {"auths": document}
    return parse_docker_config(document, origin=f"Secret {secret.ref} {entry}")


class PullSecretStore(TrackedStore[PullCredentials]):
    """Loads and watches the pull Secrets `refs`; `credentials()` is safe from any thread."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        clock: Callable[[], float] = time.monotonic,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        self._clock = clock
        self._snapshot = PullCredentials(taken_at=clock())
        self._tracked = TrackedSecrets(
            api, refs, parse_pull_secret, self._publish, "pull Secret", watch_timeout
        )

    def credentials(self) -> Mapping[str, Credential]:
        """The current credentials by registry host (what `RegistrySettings.credentials` holds)."""
        return self._snapshot.credentials

    def _publish(
        self, values: Mapping[SecretRef, Mapping[str, Credential]], problems: Mapping[SecretRef, str]
    ) -> None:
        merged: dict[str, Credential] = {}
        for credentials in values.values():  # configured order: the first Secret wins a host
            for host, credential in credentials.items():
                merged.setdefault(host, credential)
        self._snapshot = PullCredentials(MappingProxyType(merged), problems, self._clock())
