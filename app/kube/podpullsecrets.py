"""`PodPullSecrets`: the registry credentials a pod's kubelet will pull with (docs/pod-pull-secrets.md).

Which Secrets, all in the pod's namespace: the pod's `spec.imagePullSecrets`, or when it lists none
those of its ServiceAccount (`default` when unset), as the ServiceAccount admission plugin copies
them into a pod; the first Secret holding credentials for a registry wins it, in the pod's order.
This runs on the admission path, so every read goes through `CachedReads` (never one API call per
review). A Secret that is missing, unreadable or not a dockerconfigjson is skipped and logged once
per read, as the kubelet skips it; the image then fails with the registry's own "requires
authentication": fail closed. Never logs a credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from app.clock import SYSTEM_CLOCK
from app.core.errors import ClusterError, ConfigError
from app.core.ports import Clock
from app.core.trust.secretkeys import SecretRef
from app.kube.cachedreads import CachedReads
from app.kube.client import KubeApi
from app.kube.dockerconfigsecret import parse_pull_secret
from app.registry.credentials import Credential

log = logging.getLogger("sigwebhook.kube.podpullsecrets")

DEFAULT_TTL_SECONDS = 60.0
ERROR_TTL_SECONDS = 5.0
MAX_ENTRIES = 1024
LOOKUP_TIMEOUT_SECONDS = 3.0  # below the review deadline (8 s by default)
MAX_SECRETS_PER_POD = 16  # more are ignored (said in `problems`): a pod cannot make us read hundreds
DEFAULT_SERVICE_ACCOUNT = "default"

# A Secret's credentials, or why it gives none (missing, not a dockerconfigjson, …).
_Loaded = Mapping[str, Credential] | str


@dataclass(frozen=True)
class PodCredentials:
    """The credentials for one pod by registry host, the Secrets they came from, and what was skipped."""

    credentials: Mapping[str, Credential] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    secrets: tuple[SecretRef, ...] = ()
    problems: tuple[str, ...] = ()


class PodPullSecrets:
    """`await credentials_for(namespace, pull_secrets, service_account)`; safe for one event loop."""

    def __init__(
        self,
        api: KubeApi,
        ttl: float = DEFAULT_TTL_SECONDS,
        error_ttl: float = ERROR_TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        timeout: float = LOOKUP_TIMEOUT_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._api, self._timeout = api, timeout
        self.secrets: CachedReads[SecretRef, _Loaded] = CachedReads(
            self._read_secret, ttl, error_ttl, max_entries, clock
        )
        self.accounts: CachedReads[tuple[str, str], tuple[str, ...] | None] = CachedReads(
            self._read_account, ttl, error_ttl, max_entries, clock
        )

    async def credentials_for(
        self, namespace: str | None, pull_secrets: Sequence[str], service_account: str | None
    ) -> PodCredentials:
        """The credentials of a pod (or pod template) in `namespace` naming `pull_secrets` and running
        as `service_account`. Never raises for a Secret or ServiceAccount it cannot read."""
        if not namespace:
            return PodCredentials()
        problems: list[str] = []
        names = tuple(dict.fromkeys(pull_secrets))
        if not names:
            account = service_account or DEFAULT_SERVICE_ACCOUNT
            try:
                names = await self.accounts.get((namespace, account)) or ()
            except ClusterError as exc:
                problems.append(f"ServiceAccount {namespace}/{account}: {exc.reason}")
        if len(names) > MAX_SECRETS_PER_POD:
            problems.append(f"only the first {MAX_SECRETS_PER_POD} of {len(names)} imagePullSecrets are read")
            names = names[:MAX_SECRETS_PER_POD]
        refs: list[SecretRef] = []
        for name in names:
            try:
                refs.append(SecretRef(namespace, name))
            except ConfigError as exc:
                problems.append(exc.reason)
        results = await asyncio.gather(*(self.secrets.get(ref) for ref in refs), return_exceptions=True)
        merged: dict[str, Credential] = {}
        used: list[SecretRef] = []
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, ClusterError):
                problems.append(result.reason)
            elif isinstance(result, BaseException):
                raise result  # a bug or a cancellation: never read as "no credentials"
            elif isinstance(result, str):
                problems.append(result)
            else:
                used.append(ref)
                for host, credential in result.items():
                    merged.setdefault(host, credential)  # the pod's order: the first Secret wins a host
        return PodCredentials(MappingProxyType(merged), tuple(used), tuple(problems))

    def _read_secret(self, ref: SecretRef) -> _Loaded:
        try:
            secret = self._api.read_secret(ref, timeout=self._timeout)
        except ClusterError as exc:  # logged once per failed read, not once per review
            log.warning("pull Secret %s cannot be read: %s", ref, exc.detail)
            raise
        if secret is None:
            log.info("pull Secret %s does not exist; skipped as the kubelet skips it", ref)
            return f"pull Secret {ref} does not exist"
        try:
            return parse_pull_secret(secret)
        except ConfigError as exc:
            log.warning("pull Secret %s skipped: %s", ref, exc.reason)
            return exc.reason

    def _read_account(self, key: tuple[str, str]) -> tuple[str, ...] | None:
        namespace, name = key
        try:
            return self._api.read_service_account_pull_secrets(namespace, name, timeout=self._timeout)
        except ClusterError as exc:
            log.warning("ServiceAccount %s/%s cannot be read: %s", namespace, name, exc.detail)
            raise
