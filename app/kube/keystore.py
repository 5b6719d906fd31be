"""`SecretKeyStore`: trusted public keys from Kubernetes Secrets, as an immutable `KeySnapshot`.

The layout is the one `cosign generate-key-pair k8s://ns/name` writes (`cosign.pub`, `cosign.key`,
`cosign.password`); every `cosign.pub`, `*.pub` and `*.pem` entry is a public key, the private key
and password entries are never read. Start-up is strict: a Secret that cannot be read or holds no
usable key is a `ConfigError`. Later changes arrive from the watch (`app.kube.secrets`): a Secret
that becomes unparseable keeps its last good keys (and logs an error); a deleted Secret drops its
keys, so policies that need it deny with the reason in `KeySnapshot.problems` (fail closed).
The admission path only calls `snapshot()`: it never reaches the API server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from types import MappingProxyType

from app.core.errors import ClusterError, ConfigError, KeyLoadError
from app.core.keys import TrustedKey, load_public_key
from app.core.keysources import KeySnapshot, SecretRef
from app.kube.client import KubeApi, Secret
from app.kube.secrets import WATCH_TIMEOUT_SECONDS, SecretWatch

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


class SecretKeyStore:
    """Loads and watches the key Secrets `refs`; `snapshot()` is safe to call from any thread."""

    def __init__(
        self,
        api: KubeApi,
        refs: Iterable[SecretRef],
        clock: Callable[[], float] = time.monotonic,
        watch_timeout: int = WATCH_TIMEOUT_SECONDS,
    ) -> None:
        self._api = api
        self._refs = tuple(sorted(set(refs)))
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[SecretRef, tuple[TrustedKey, ...]] = {}
        self._problems: dict[SecretRef, str] = {}
        self._versions: dict[SecretRef, str] = {}
        self._snapshot = KeySnapshot(taken_at=clock())
        self._watch = SecretWatch(api, self._refs, self.apply, watch_timeout=watch_timeout)
        self.loaded = False

    @property
    def refs(self) -> tuple[SecretRef, ...]:
        return self._refs

    def snapshot(self) -> KeySnapshot:
        """The current keys: an immutable value, replaced (never mutated) on every change."""
        return self._snapshot

    def load(self) -> KeySnapshot:
        """Read every Secret once. Raises `ConfigError` naming the Secret when one cannot be read
        or has no usable key: start-up must stop rather than run with a missing key."""
        for ref in self._refs:
            try:
                secret, _ = self._api.list_secret(ref)
            except ClusterError as exc:
                raise ConfigError(f"key Secret {ref}: {exc.reason}", exc.detail) from exc
            if secret is None:
                raise ConfigError(f"key Secret {ref} does not exist")
            try:
                keys = parse_secret_keys(secret)
            except KeyLoadError as exc:
                raise ConfigError(f"key Secret {ref}: {exc.reason}", exc.detail) from exc
            with self._lock:
                self._keys[ref], self._versions[ref] = keys, secret.resource_version
                self._problems.pop(ref, None)
        with self._lock:
            self._publish()
        self.loaded = True
        return self._snapshot

    def start(self) -> KeySnapshot:
        """`load()`, then follow every Secret on background threads."""
        snapshot = self.load()
        self._watch.start()
        return snapshot

    def stop(self) -> None:
        self._watch.stop()

    def apply(self, ref: SecretRef, secret: Secret | None) -> None:
        """Take in one observed state of `ref` (None: deleted) and publish a new snapshot if the
        trusted keys changed. Called by the watch threads."""
        with self._lock:
            if secret is None:
                self._drop(ref)
            elif self._versions.get(ref) != secret.resource_version:
                self._update(ref, secret)

    def _drop(self, ref: SecretRef) -> None:
        if ref not in self._keys and ref in self._problems:
            return
        log.error("key Secret %s was deleted: its keys are no longer trusted", ref)
        self._keys.pop(ref, None)
        self._versions.pop(ref, None)
        self._problems[ref] = f"key Secret {ref} does not exist (deleted)"
        self._publish()

    def _update(self, ref: SecretRef, secret: Secret) -> None:
        self._versions[ref] = secret.resource_version
        try:
            keys = parse_secret_keys(secret)
        except KeyLoadError as exc:
            if ref in self._keys:
                log.error(
                    "key Secret %s changed but is unusable; keeping its last good keys: %s", ref, exc.detail
                )
                return
            log.error("key Secret %s is unusable: %s", ref, exc.detail)
            self._problems[ref] = exc.reason
            self._publish()
            return
        old = {k.fingerprint for k in self._keys.get(ref, ())}
        self._keys[ref] = keys
        self._problems.pop(ref, None)
        if old != {k.fingerprint for k in keys}:
            log.info("key Secret %s now trusts %s", ref, ", ".join(k.short() for k in keys))
        self._publish()

    def _publish(self) -> None:
        self._snapshot = KeySnapshot(
            keys=MappingProxyType(dict(self._keys)),
            problems=MappingProxyType(dict(self._problems)),
            taken_at=self._clock(),
        )
