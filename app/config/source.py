"""The config file as a `PolicySource`: its policies mapped to the core's `AdmissionPolicy` once, at
start-up (a changed file applies at the next start). Key files and trusted root files are read here."""

from __future__ import annotations

from app.config.policies import to_policies
from app.config.settings import Settings
from app.core.admission.policy import AdmissionPolicy, FixedPolicySource
from app.core.errors import ConfigError
from app.core.ports import PolicySource
from app.core.trust.builtin import PUBLIC_GOOD, public_good
from app.core.trust.roots import TrustedRoot
from app.trust_files import load_trusted_root


def trusted_roots(settings: Settings) -> dict[str, TrustedRoot]:
    """`public-good` and every root of `trustedRoots`, read now (`ConfigError` naming the field)."""
    roots = {PUBLIC_GOOD: public_good()}
    for name, config in settings.trusted_roots.items():
        try:
            roots[name] = load_trusted_root(config.file, name)
        except ConfigError as exc:
            raise ConfigError(f"trustedRoots.{name}.file: {exc.reason}", exc.detail) from exc
    return roots


def admission_policy(settings: Settings) -> AdmissionPolicy:
    """The frozen core policy, with file and inline keys and trusted roots loaded now (`ConfigError`
    naming the field)."""
    return AdmissionPolicy(
        policies=to_policies(settings.policies, trusted_roots(settings)),
        unmatched=settings.unmatched,
        skip_namespaces=frozenset(settings.skip_namespaces),
        exempt_images=tuple(settings.exempt_images),
    )


def policy_source(settings: Settings) -> PolicySource:
    """The config's policy behind the `PolicySource` port (fixed until the next start)."""
    return FixedPolicySource(admission_policy(settings))
