"""What one image verification trusts: signers, each under a trusted root and a set of requirements.

A policy trusts keys (verified under its `trustedRoot`) and keyless identities (each under its own
`trustedRoot`), all with the policy's `transparencyLog` and `ctLog` requirements. Signers that share a
root and requirements form one `TrustGroup`; every signature found is verified once per group, so two
policies that differ only in their requirements can both judge one image from one set of registry
reads. A verified signature records the group's `basis` and the signer's `trust_id`: a policy counts
it only when both are its own.

`Trust.cache_key` is the whole trust configuration (root digests, requirements, signer ids) for the
verdict cache. Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from app.core.trust.builtin import public_good
from app.core.trust.keys import TrustedKey
from app.core.trust.roots import TrustedRoot
from app.core.trust.signers import KeySigner, TrustedSigner
from app.core.verification.entity_checks import Requirements

NO_LOG = Requirements(transparency_log=False)  # `transparencyLog: ignore`, `--insecure-ignore-tlog`


def basis_of(root: TrustedRoot, requirements: Requirements) -> str:
    """The name of what a signature was verified under: a root (by digest) and the requirements."""
    log = "required" if requirements.transparency_log else "ignore"
    ct = "required" if requirements.sct else "ignore"
    return f"{root.name}@{root.digest} transparencyLog={log} ctLog={ct}"


@dataclass(frozen=True)
class TrustGroup:
    """Signers verified under one trusted root with one set of requirements."""

    root: TrustedRoot = field(compare=False)
    requirements: Requirements
    signers: tuple[TrustedSigner, ...] = field(compare=False)
    basis: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis", basis_of(self.root, self.requirements))

    def cache_key(self) -> tuple[str, tuple[str, ...]]:
        return (self.basis, tuple(sorted({s.trust_id for s in self.signers})))


@dataclass(frozen=True)
class Trust:
    """Every group one verification checks signatures against (at least one signer in all)."""

    groups: tuple[TrustGroup, ...]

    @classmethod
    def of(cls, bindings: Iterable[tuple[TrustedSigner, TrustedRoot, Requirements]]) -> Trust:
        """Signers bound to their root and requirements, grouped; a signer given twice in a group
        (by `trust_id`) is kept once."""
        grouped: dict[str, tuple[TrustedRoot, Requirements, dict[str, TrustedSigner]]] = {}
        for signer, root, requirements in bindings:
            _, _, signers = grouped.setdefault(basis_of(root, requirements), (root, requirements, {}))
            signers.setdefault(signer.trust_id, signer)
        return cls(
            tuple(
                TrustGroup(root, requirements, tuple(signers.values()))
                for root, requirements, signers in grouped.values()
            )
        )

    @classmethod
    def keys(
        cls,
        keys: Sequence[TrustedKey],
        requirements: Requirements | None = None,
        root: TrustedRoot | None = None,
    ) -> Trust:
        """`keys` under `root` (default: the built-in public-good root) and `requirements` (default:
        a log entry is required, as cosign's), as `verify --key` trusts them."""
        chosen, required = root or public_good(), requirements or Requirements()
        return cls.of((KeySigner(key), chosen, required) for key in keys)

    @functools.cached_property
    def signers(self) -> tuple[TrustedSigner, ...]:
        return tuple(s for group in self.groups for s in group.signers)

    def labels(self) -> Mapping[str, str]:
        """How each signer is named now, by `trust_id` (a cached verdict is told with these)."""
        return self._labels

    def cache_key(self) -> str:
        """The whole trust configuration, order-independent, as text."""
        return self._cache_key

    # Computed once per `Trust` (a review's plans are remembered, so one object serves many reviews).
    @functools.cached_property
    def _labels(self) -> Mapping[str, str]:
        return MappingProxyType({s.trust_id: s.label for s in self.signers})

    @functools.cached_property
    def _cache_key(self) -> str:
        # Text, not nested tuples: a string keeps its hash, and a cache key is hashed at every look-up.
        return repr(tuple(sorted(group.cache_key() for group in self.groups)))

    def merged(self, other: Trust) -> Trust:
        """Both trusts as one (what several policies matching one image verify with)."""
        return Trust.of(
            (signer, group.root, group.requirements)
            for group in (*self.groups, *other.groups)
            for signer in group.signers
        )
