"""The config file as a `PolicySource`: its policies mapped to the core's `AdmissionPolicy` once, at
start-up (a changed file applies at the next start). Key files are read here."""

from __future__ import annotations

from app.config.policies import to_policies
from app.config.settings import Settings
from app.core.admission.policy import AdmissionPolicy, FixedPolicySource
from app.core.ports import PolicySource


def admission_policy(settings: Settings) -> AdmissionPolicy:
    """The frozen core policy, with file and inline keys loaded now (`ConfigError` naming the field)."""
    return AdmissionPolicy(
        policies=to_policies(settings.policies),
        unmatched=settings.unmatched,
        skip_namespaces=frozenset(settings.skip_namespaces),
        exempt_images=tuple(settings.exempt_images),
    )


def policy_source(settings: Settings) -> PolicySource:
    """The config's policy behind the `PolicySource` port (fixed until the next start)."""
    return FixedPolicySource(admission_policy(settings))
