"""Where trusted keys come from, and the immutable snapshot the admission path reads.

A policy names its keys as a file path, inline PEM, or `k8s://namespace/name` (a Secret holding
`cosign.pub`, as `cosign generate-key-pair k8s://…` writes it). Secrets are watched by an adapter
(`app.kube`), which publishes a new `KeySnapshot` whenever one changes; the admission path only ever
reads the current snapshot and never calls the API server. No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from app.core.errors import ConfigError
from app.core.trust.keys import TrustedKey

SECRET_SCHEME = "k8s://"
# Kubernetes object names: DNS-1123 subdomain (Secrets) and label (namespaces).
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, order=True)
class SecretRef:
    """A Kubernetes Secret, named `k8s://namespace/name`: one holding public keys, or the webhook's
    registry pull Secret (`registries.pullSecret`)."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        if len(self.namespace) > 63 or not _NAMESPACE.match(self.namespace):
            raise ConfigError(f"invalid namespace {self.namespace!r} in key reference {self}")
        if len(self.name) > 253 or not _SECRET_NAME.match(self.name):
            raise ConfigError(f"invalid Secret name {self.name!r} in key reference {self}")

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """Parse `k8s://namespace/name`; raise `ConfigError` otherwise."""
        if not text.startswith(SECRET_SCHEME):
            raise ConfigError(f"key reference {text!r} is not of the form k8s://namespace/name")
        parts = text[len(SECRET_SCHEME) :].split("/")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"key reference {text!r} is not of the form k8s://namespace/name")
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{SECRET_SCHEME}{self.namespace}/{self.name}"


def is_secret_reference(text: str) -> bool:
    return text.startswith(SECRET_SCHEME)


@dataclass(frozen=True)
class KeySnapshot:
    """Keys of every watched Secret at one moment. `keys` maps a Secret to the keys parsed from its
    `cosign.pub` / `*.pub` / `*.pem` entries; a Secret that is missing or has no usable key is absent
    from `keys` and its reason is in `problems` (so a policy can deny with that reason)."""

    keys: Mapping[SecretRef, tuple[TrustedKey, ...]] = field(default_factory=lambda: MappingProxyType({}))
    problems: Mapping[SecretRef, str] = field(default_factory=lambda: MappingProxyType({}))
    taken_at: float = 0.0  # monotonic seconds when this snapshot was published

    def keys_of(self, ref: SecretRef) -> tuple[TrustedKey, ...]:
        return self.keys.get(ref, ())


class StaticKeyStore:
    """A key store for configurations whose keys are all files or inline PEM: no Secret is
    watched, so the snapshot is fixed (empty unless given) and loaded from the start."""

    def __init__(self, snapshot: KeySnapshot | None = None) -> None:
        self._snapshot = snapshot if snapshot is not None else KeySnapshot()

    def snapshot(self) -> KeySnapshot:
        return self._snapshot

    def loaded(self) -> bool:
        return True
