"""`PodVerifiers`: one registry client per distinct set of pod credentials, never shared between
sets, the configured credentials underneath, and every client closed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from app.core.admission.review import AdmissionRequest, Operation
from app.core.digests import Digest
from app.core.references import ImageRef, parse_reference
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.registry.credentials import Credential
from app.registry.settings import RegistrySettings
from app.webhook.podverifiers import CLOSE_GRACE_SECONDS, PodVerifiers
from tests.fakes import ManualClock

CONFIGURED = Credential("configured", "c")
ALICE = Credential("alice", "alice-secret-pw")
BOB = Credential("bob", "b")


@dataclass
class Found:
    credentials: Mapping[str, Credential]
    problems: tuple[str, ...] = ()


@dataclass
class Source:
    """Credentials by namespace; records each call."""

    by_namespace: dict[str, dict[str, Credential]]
    calls: list[tuple[str | None, tuple[str, ...], str | None]] = field(default_factory=list)

    async def credentials_for(
        self, namespace: str | None, pull_secrets: Sequence[str], service_account: str | None
    ) -> Found:
        self.calls.append((namespace, tuple(pull_secrets), service_account))
        return Found(MappingProxyType(self.by_namespace.get(namespace or "", {})))


class Built:
    """A stand-in verifier; remembers the settings it was built with and whether it was closed."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings, self.closed = settings, False
        self.verified: list[ImageRef] = []

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        self.verified.append(ref)
        return ImageVerdict(ref, Digest.of(b"x"), (), ())

    async def close(self) -> None:
        self.closed = True


class Harness:
    def __init__(self, source: Source | None, max_sets: int = 32) -> None:
        self.clock = ManualClock()
        self.built: list[Built] = []
        self.base = Built(
            RegistrySettings.build(credentials={"reg.example": CONFIGURED, "other.example": CONFIGURED})
        )
        self.verifiers = PodVerifiers(
            self.base, self.base.settings, self._build, source, max_sets=max_sets, clock=self.clock
        )

    def _build(self, settings: RegistrySettings) -> tuple[Any, Any]:
        built = Built(settings)
        self.built.append(built)
        return built, built.close


def request(
    namespace: str, secrets: tuple[str, ...] = ("regcred",), account: str | None = "default"
) -> AdmissionRequest:
    return AdmissionRequest(
        uid="u", operation=Operation.CREATE, kind="Pod", subresource=None, namespace=namespace,
        name="p", generate_name=None, user=None, images=(), pull_secrets=secrets, service_account=account,
    )  # fmt: skip


async def test_pods_without_credentials_of_their_own_use_the_shared_verifier() -> None:
    harness = Harness(Source({}))
    assert await harness.verifiers.choose(request("empty")) is harness.base
    assert harness.built == []


async def test_with_the_feature_off_no_credentials_are_looked_up() -> None:
    harness = Harness(None)
    assert await harness.verifiers.for_request(request("team")) is harness.base


async def test_an_object_without_a_pod_spec_looks_nothing_up() -> None:
    source = Source({"team": {"reg.example": ALICE}})
    harness = Harness(source)
    assert await harness.verifiers.for_request(request("team", account=None)) is harness.base
    assert source.calls == []


async def test_credentials_are_looked_up_only_when_an_image_is_verified_and_once_per_review() -> None:
    source = Source({"team": {"reg.example": ALICE}})
    harness = Harness(source)
    verifier = await harness.verifiers.for_request(request("team"))
    assert source.calls == []  # a skipped namespace or an exempt image never gets further
    refs = [parse_reference(f"reg.example/app{i}:1") for i in range(3)]
    verdicts = await asyncio.gather(*(verifier.verify(ref, Trust(())) for ref in refs))
    assert len(source.calls) == 1
    (alice,) = harness.built
    assert alice.verified == refs and [v.reference for v in verdicts] == refs


async def test_the_pods_credentials_come_first_and_the_configured_ones_fill_in() -> None:
    harness = Harness(Source({"team": {"reg.example": ALICE}}))
    verifier = await harness.verifiers.choose(request("team"))
    assert isinstance(verifier, Built) and verifier is not harness.base
    assert verifier.settings.credential_for("reg.example") == ALICE
    assert verifier.settings.credential_for("other.example") == CONFIGURED
    assert harness.base.settings.credential_for("reg.example") == CONFIGURED  # the shared one is untouched
    assert "alice-secret-pw" not in repr(verifier.settings) + repr(verifier.settings.credentials)


async def test_pods_with_the_same_credentials_share_a_client_and_others_never_do() -> None:
    harness = Harness(
        Source({"a1": {"reg.example": ALICE}, "a2": {"reg.example": ALICE}, "b": {"reg.example": BOB}})
    )
    first = await harness.verifiers.choose(request("a1"))
    again = await harness.verifiers.choose(request("a2"))
    other = await harness.verifiers.choose(request("b"))
    assert first is again and other is not first
    assert len(harness.built) == 2 and harness.verifiers.credential_sets == 2


async def test_a_dropped_client_is_closed_after_the_grace_time_and_all_at_shutdown() -> None:
    harness = Harness(Source({"a": {"r.example": ALICE}, "b": {"r.example": BOB}}), max_sets=1)
    await harness.verifiers.choose(request("a"))
    await harness.verifiers.choose(request("b"))  # drops a's client: a review may still use it
    alice, bob = harness.built
    assert not alice.closed
    harness.clock.advance(CLOSE_GRACE_SECONDS + 1)
    await harness.verifiers.choose(request("b"))
    assert alice.closed and not bob.closed
    await harness.verifiers.aclose()
    assert bob.closed and harness.verifiers.credential_sets == 0
