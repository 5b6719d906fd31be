"""`SecretKeyStore`: trusted public keys from Kubernetes Secrets, as an immutable `KeySnapshot`.

The layout is the one `cosign generate-key-pair k8s://ns/name` writes (`cosign.pub`, `cosign.key`,
`cosign.password`); every `cosign.pub`, `*.pub` and `*.pem` entry is a public key, the private key
and password entries are never read. The Secret rules are `TrackedSecrets`': strict at start-up
(`ConfigError`), last good keys kept when a Secret stops parsing, keys dropped when it is deleted
(policies that need it then deny with the reason in `KeySnapshot.problems`: fail closed).
The admission path only calls `snapshot()`: it never reaches the API server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from app.clock import SYSTEM_CLOCK
from app.core.errors import KeyLoadError
from app.core.ports import Clock
from app.core.trust.keys import TrustedKey, load_public_key
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from app.kube.client import KubeApi, Secret
from app.kube.secretwatch import WATCH_TIMEOUT_SECONDS
from app.kube.trackedsecrets import TrackedStore

log = logging.getLogger(__name__)

KEY_ENTRY = "cosign.pub"
KEY_SUFFIXES = (".pub", ".pem")


def parse_secret_keys(secret: Secret) -> tuple[TrustedKey, ...]:
    """The public keys in `secret`, named `k8s://ns/name/ENTRY`, distinct by fingerprint.

    Every key entry must parse: a Secret with one broken entry is rejected whole, so a half-applied
    edit never silently changes the trusted set. Raises `KeyLoadError`."""
    entries = sorted(e for e in secret.data if e == KEY_ENTRY or e.endswith(KEY_SUFFIXES))
    if not entries:
        raise KeyLoadError(f"Secret {secret.ref} has no {KEY_ENTRY}, *.pub or *.pem entry")
    keys: dict[str, TrustedKey] = {}
    for entry in entries:
        key = load_public_key(secret.data[entry], f"{secret.ref}/{entry}")
        keys.setdefault(key.fingerprint, key)
    return tuple(keys.values())


class SecretKeyStore(TrackedStore[tuple[TrustedKey, ...], KeySnapshot]):
    """Loads and watches the key Secrets `refs`; `snapshot()` is safe to call from any thread."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        clock: Clock = SYSTEM_CLOCK,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        refs = sorted(set(refs))  # policies name them as a set: load (and fail) in a stable order
        super().__init__(api, refs, parse_secret_keys, "key Secret", KeySnapshot, clock, watch_timeout)

    @property
    def refs(self) -> tuple[SecretRef, ...]:
        return self._tracked.refs

    def _publish(
        self, keys: Mapping[SecretRef, tuple[TrustedKey, ...]], problems: Mapping[SecretRef, str]
    ) -> None:
        old = self._snapshot
        self._snapshot = KeySnapshot(keys=keys, problems=problems, taken_at=self._clock.monotonic())
        for ref, new_keys in keys.items():
            if {k.fingerprint for k in old.keys_of(ref)} != {k.fingerprint for k in new_keys}:
                log.info("key Secret %s now trusts %s", ref, ", ".join(k.short() for k in new_keys))
