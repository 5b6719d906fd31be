"""Admission policy: which images need which signers, which images and namespaces are left alone.

A policy governs the images its patterns match (`app.core.admission.patterns`) and trusts keys
(static, or from Secrets), keyless identities (`TrustedIdentity`: an identity pattern and the trusted
root its certificates chain to), or both; keys are verified under the policy's `key_root`, and
everything under its `requirements` (`transparencyLog`, `ctLog`). Each verified key or identity counts
once toward `threshold` (`Policy.trust`).

Every policy whose patterns match an image applies, and all of them must pass: adding a policy can
only make admission stricter (sigstore policy-controller's ClusterImagePolicy semantics), except
that a failure of a `warn`-mode policy only warns. An image no policy matches is denied unless
`unmatched` is `allow`. Exemptions and skipped namespaces are explicit. This module builds and
queries the policy; it does no I/O and verifies nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.core.admission.patterns import ImagePattern
from app.core.errors import ConfigError
from app.core.references import ImageRef
from app.core.trust.builtin import public_good
from app.core.trust.keys import TrustedKey
from app.core.trust.roots import TrustedRoot
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from app.core.trust.signers import IdentitySigner, KeySigner, TrustedSigner
from app.core.verification.entity_checks import Requirements
from app.core.verification.trust_groups import Trust

_POLICY_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$")


class Mode(StrEnum):
    """`enforce`: a failing image denies the object. `warn`: it is admitted, and the reasons come back
    as AdmissionReview warnings and go to the audit log as what would have been denied."""

    ENFORCE = "enforce"
    WARN = "warn"


class Pinning(StrEnum):
    """Which objects the mutating endpoint pins to the verified digest for a policy's images.

    `pods` (the default) pins pods only: that already closes the gap between the tag verified and
    the manifest the kubelet pulls (a workload's pods are pinned as they are created), and leaves the
    workload objects as written, so Argo CD and Flux see no drift. `all` pins workload templates too
    (every replica then runs one digest); `none` never pins."""

    ALL = "all"
    PODS = "pods"
    NONE = "none"

    def pins(self, is_pod: bool) -> bool:
        return self is Pinning.ALL or (self is Pinning.PODS and is_pod)


class Unmatched(StrEnum):
    """What happens to an image that no policy matches."""

    DENY = "deny"
    ALLOW = "allow"


def check_policy_name(name: str) -> str:
    """`name` when it is a valid policy name (it labels metrics and audit records); `ConfigError` otherwise."""
    if not _POLICY_NAME.fullmatch(name):
        raise ConfigError(f"invalid policy name {name!r}: letters, digits, '.', '_', '-' (max 63)")
    return name


def check_unique_names(names: Iterable[str]) -> None:
    """`ConfigError` naming every policy name given more than once."""
    seen = list(names)
    duplicates = sorted({n for n in seen if seen.count(n) > 1})
    if duplicates:
        raise ConfigError(f"policy names must be unique: {', '.join(duplicates)} appear more than once")


@dataclass(frozen=True)
class PolicyKeys:
    """The keys one policy trusts at one moment, and why some of its Secrets gave none."""

    keys: tuple[TrustedKey, ...]
    problems: tuple[str, ...]

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(k.fingerprint for k in self.keys)


@dataclass(frozen=True)
class TrustedIdentity:
    """A keyless identity a policy trusts, and the trusted root its signatures are checked against."""

    signer: IdentitySigner
    root: TrustedRoot = field(default_factory=public_good, compare=False)


@dataclass(frozen=True)
class Policy:
    """A named policy: images it governs, signers it trusts, and how many distinct ones must have signed.

    `static_keys` were parsed at start-up from files or inline PEM; `secrets` are read from the
    current `KeySnapshot` at each review; `identities` are keyless signers. Keys are checked against
    `key_root` (default: the built-in public-good root), and every signature under `requirements`.
    `mode` says whether a failure denies or warns; `pinning` which objects `/mutate` pins to the
    verified digest (`Pinning`)."""

    name: str
    patterns: tuple[ImagePattern, ...]
    static_keys: tuple[TrustedKey, ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    threshold: int = 1
    mode: Mode = Mode.ENFORCE
    pinning: Pinning = Pinning.PODS
    identities: tuple[TrustedIdentity, ...] = ()
    key_root: TrustedRoot = field(default_factory=public_good, compare=False)
    requirements: Requirements = field(default_factory=Requirements)

    def __post_init__(self) -> None:
        check_policy_name(self.name)
        if not self.patterns:
            raise ConfigError(f'policy "{self.name}" has no image patterns')
        if not self.static_keys and not self.secrets and not self.identities:
            raise ConfigError(
                f'policy "{self.name}" trusts no keys or identities: an empty key set is never a pass'
            )
        if self.threshold < 1:
            raise ConfigError(f'policy "{self.name}": threshold must be at least 1')
        distinct = len({k.fingerprint for k in self.static_keys}) + self.distinct_identities
        if not self.secrets and self.threshold > distinct:
            raise ConfigError(
                f'policy "{self.name}": threshold {self.threshold} is more than its {distinct} distinct '
                f"{self.signer_words}"
            )

    @property
    def distinct_identities(self) -> int:
        return len({i.signer.trust_id for i in self.identities})

    @property
    def signer_words(self) -> str:
        """What the policy trusts, in messages: `keys`, `keyless identities`, or both."""
        if not self.identities:
            return "keys"
        has_keys = bool(self.static_keys or self.secrets)
        return "keys or keyless identities" if has_keys else "keyless identities"

    def matches(self, ref: ImageRef) -> bool:
        return any(p.matches(ref) for p in self.patterns)

    def trust(self, keys: tuple[TrustedKey, ...]) -> Trust:
        """What verifying for this policy trusts: `keys` (its keys now, `keys_in`) under `key_root`,
        its identities under their roots, all with its requirements."""
        bound: list[tuple[TrustedSigner, TrustedRoot, Requirements]] = [
            (KeySigner(key), self.key_root, self.requirements) for key in keys
        ]
        bound.extend((i.signer, i.root, self.requirements) for i in self.identities)
        return Trust.of(bound)

    def keys_in(self, snapshot: KeySnapshot) -> PolicyKeys:
        """The static keys plus the keys the Secrets hold now, deduplicated by fingerprint."""
        seen: dict[str, TrustedKey] = {k.fingerprint: k for k in self.static_keys}
        problems: list[str] = []
        for ref in self.secrets:
            found = snapshot.keys_of(ref)
            if not found:
                problems.append(f"{ref}: {snapshot.problems.get(ref, 'no keys loaded yet')}")
            for key in found:
                seen.setdefault(key.fingerprint, key)
        return PolicyKeys(tuple(seen.values()), tuple(problems))


@dataclass(frozen=True)
class AdmissionPolicy:
    """Everything the decision needs to know about what to admit, parsed and immutable."""

    policies: tuple[Policy, ...]
    unmatched: Unmatched = Unmatched.DENY
    skip_namespaces: frozenset[str] = frozenset()
    exempt_images: tuple[ImagePattern, ...] = ()

    def __post_init__(self) -> None:
        check_unique_names(p.name for p in self.policies)

    def skips(self, namespace: str | None) -> bool:
        return namespace is not None and namespace in self.skip_namespaces

    def exemption_for(self, ref: ImageRef) -> ImagePattern | None:
        """The first exempt pattern matching `ref`, if any."""
        return next((p for p in self.exempt_images if p.matches(ref)), None)

    def registry_hosts(self) -> frozenset[str]:
        """The registry hosts the policies name literally (`registry.example.com` of
        `registry.example.com/team/**`; not a glob host such as `*.example.com` or `**`)."""
        hosts = {
            pattern.normalised.partition("/")[0]
            for p in self.policies
            for pattern in p.patterns
            if "/" in pattern.normalised and "*" not in pattern.normalised.partition("/")[0]
        }
        return frozenset(hosts)

    def named(self, names: Iterable[str]) -> tuple[Policy, ...]:
        """The policies with these names (unknown names are skipped)."""
        wanted = set(names)
        return tuple(p for p in self.policies if p.name in wanted)

    def policies_for(self, ref: ImageRef) -> tuple[Policy, ...]:
        """Every policy that applies to `ref` (all must pass)."""
        return tuple(p for p in self.policies if p.matches(ref))

    def secrets(self) -> frozenset[SecretRef]:
        """Every Secret some policy names: what the key store must watch."""
        return frozenset(ref for p in self.policies for ref in p.secrets)


class FixedPolicySource:
    """A `PolicySource` whose policy never changes (the config file's, read at start-up; tests)."""

    def __init__(self, policy: AdmissionPolicy) -> None:
        self._policy = policy

    def current(self) -> AdmissionPolicy:
        return self._policy
