"""`PullSecretStore`: the webhook's own registry credentials, from the pull Secret it is configured
with (`registries.pullSecret`), watched.

Each Secret is read with `parse_pull_secret` and follows the `TrackedSecrets` rules: strict at
start-up, last good credentials kept when a Secret stops parsing, credentials dropped (anonymous
pulls) when it is deleted. With several Secrets, the first one configured that has credentials for
a registry wins, as the kubelet tries `imagePullSecrets` in order. The registry adapter reads
`credentials()` per request: a snapshot, never an API call. The pods' own pull Secrets are
`podpullsecrets`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from app.clock import SYSTEM_CLOCK
from app.core.ports import Clock
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi
from app.kube.dockerconfigsecret import parse_pull_secret
from app.kube.secretwatch import WATCH_TIMEOUT_SECONDS
from app.kube.trackedsecrets import TrackedStore
from app.registry.credentials import Credential


@dataclass(frozen=True)
class PullCredentials:
    """Credentials by normalised registry host at one moment, and why any Secret gave none."""

    credentials: Mapping[str, Credential] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    problems: Mapping[SecretRef, str] = field(default_factory=lambda: MappingProxyType({}))
    taken_at: float = 0.0


class PullSecretStore(TrackedStore[Mapping[str, Credential], PullCredentials]):
    """Loads and watches the pull Secrets `refs`; `credentials()` is safe from any thread."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        clock: Clock = SYSTEM_CLOCK,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(api, refs, parse_pull_secret, "pull Secret", PullCredentials, clock, watch_timeout)

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
        self._snapshot = PullCredentials(MappingProxyType(merged), problems, self._clock.monotonic())
