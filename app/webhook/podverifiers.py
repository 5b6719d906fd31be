"""`PodVerifiers`: the verifier a review uses, with the pod's own pull credentials when enabled
(`registries.podPullSecrets`; what that grants and what can leak: docs/pod-pull-secrets.md).

Without pod credentials every review uses the shared verifier over the configured ones. With some,
the review gets a verifier whose registry client holds the pod's credentials over the configured
ones: one client per distinct set of credentials (least recently used dropped beyond `max_sets`),
so pods sharing a pull Secret share connections and tokens, while a client and its token cache are
never shared between sets: no registry call made for one pod carries another pod's credentials or
tokens. The look-up happens when the review first verifies an image, inside its deadline, so a
review that verifies nothing reads no Secret. The verdict cache stays shared: a verdict says
whether an image carries a trusted signature, not who may pull it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Protocol

from app.clock import SYSTEM_CLOCK
from app.core.admission.decision import ImageVerifier
from app.core.admission.review import AdmissionRequest
from app.core.ports import Clock
from app.core.references import ImageRef
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.registry.credentials import Credential
from app.registry.settings import RegistrySettings

log = logging.getLogger("sigwebhook.webhook.podverifiers")

MAX_CREDENTIAL_SETS = 32
# A dropped client is closed this long after it was dropped: a review may still be using it.
CLOSE_GRACE_SECONDS = 60.0

Close = Callable[[], Awaitable[None]]
BuildVerifier = Callable[[RegistrySettings], tuple[ImageVerifier, Close]]
CredentialKey = tuple[tuple[str, Credential], ...]


class PodCredentialSource(Protocol):
    """What `PodVerifiers` needs from `app.kube.podpullsecrets.PodPullSecrets`."""

    async def credentials_for(
        self, namespace: str | None, pull_secrets: tuple[str, ...], service_account: str | None
    ) -> _Found: ...


class _Found(Protocol):
    @property
    def credentials(self) -> Mapping[str, Credential]: ...

    @property
    def problems(self) -> tuple[str, ...]: ...


class PodVerifiers:
    """`await for_request(request)`: the verifier for one review. `aclose()` closes what it built."""

    def __init__(
        self,
        base: ImageVerifier,
        settings: RegistrySettings,
        build: BuildVerifier,
        source: PodCredentialSource | None,
        max_sets: int = MAX_CREDENTIAL_SETS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._base, self._settings, self._build, self._source = base, settings, build, source
        self._max, self._clock = max_sets, clock
        self._sets: OrderedDict[CredentialKey, tuple[ImageVerifier, Close]] = OrderedDict()
        self._retired: list[tuple[float, Close]] = []

    @property
    def credential_sets(self) -> int:
        """How many per-credential verifiers are kept now."""
        return len(self._sets)

    async def for_request(self, request: AdmissionRequest) -> ImageVerifier:
        """The verifier for `request`: the shared one when pod credentials are off or the object has
        no pod spec; else one that looks the pod's credentials up when it is first asked to verify
        an image (a skipped namespace, an exempt, unmatched or unchanged image reads no Secret, and
        the look-up counts against the review's deadline)."""
        if self._source is None or request.service_account is None:
            return self._base
        return _PodVerifier(self, request)

    async def choose(self, request: AdmissionRequest) -> ImageVerifier:
        """The shared verifier, or one with the credentials of the pod (template) in `request`."""
        if self._source is None:  # `for_request` hands out no pod verifier then; kept true without asserts
            return self._base
        found = await self._source.credentials_for(
            request.namespace, request.pull_secrets, request.service_account
        )
        if found.problems:
            log.debug("review %s: pull credentials: %s", request.uid, "; ".join(found.problems))
        if not found.credentials:
            return self._base
        await self._close_retired()
        key: CredentialKey = tuple(sorted(found.credentials.items(), key=lambda item: item[0]))
        entry = self._sets.get(key)
        if entry is None:
            overlay = _Overlay(found.credentials, self._settings.credentials)
            entry = self._build(dataclasses.replace(self._settings, credentials=overlay))
            self._sets[key] = entry
            while len(self._sets) > self._max:
                _, (_, close) = self._sets.popitem(last=False)
                self._retired.append((self._clock.monotonic() + CLOSE_GRACE_SECONDS, close))
        self._sets.move_to_end(key)
        return entry[0]

    async def aclose(self) -> None:
        """Close every client built here (at shutdown)."""
        closes = [close for _, close in self._retired] + [close for _, close in self._sets.values()]
        self._retired, self._sets = [], OrderedDict()
        for close in closes:
            await close()

    async def _close_retired(self) -> None:
        now = self._clock.monotonic()
        due = [close for at, close in self._retired if at <= now]
        self._retired = [(at, close) for at, close in self._retired if at > now]
        for close in due:
            try:
                await close()
            except Exception:  # a client that fails to close must not fail the review that noticed
                log.warning("could not close a registry client", exc_info=True)


class _PodVerifier:
    """Chooses the verifier of one review on its first `verify`; the review's images share that."""

    def __init__(self, owner: PodVerifiers, request: AdmissionRequest) -> None:
        self._owner, self._request = owner, request
        self._chosen: asyncio.Future[ImageVerifier] | None = None

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        if self._chosen is None:
            self._chosen = asyncio.ensure_future(self._owner.choose(self._request))
            self._chosen.add_done_callback(_retrieve)
        # shield: an image given up at the deadline must not cancel the look-up the others share.
        verifier = await asyncio.shield(self._chosen)
        return await verifier.verify(ref, trust)


def _retrieve(future: asyncio.Future[ImageVerifier]) -> None:
    """Mark the outcome as seen: it is raised to every waiting image, or to none once all gave up."""
    if not future.cancelled():
        future.exception()


class _Overlay(Mapping[str, Credential]):
    """The pod's credentials over the configured ones (read live: a rotated `pullSecret` applies)."""

    def __init__(self, first: Mapping[str, Credential], then: Mapping[str, Credential]) -> None:
        self._first, self._then = first, then

    def __getitem__(self, host: str) -> Credential:
        if host in self._first:
            return self._first[host]
        return self._then[host]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._then, **self._first})

    def __len__(self) -> int:
        return len({**self._then, **self._first})

    def __repr__(self) -> str:
        return f"<credentials for {len(self)} registries>"
