"""`policies[]` with their `keys[]` and `keyless[]`: the external form of a policy, and its mapping to
the core's `Policy` (as policy-controller maps its CRD to an internal policy).

Shape is checked here, rules in the core: a policy name, an image pattern, a Secret or a keyless
identity parses with the core's check; the core's constructors refuse what is left (a threshold above
the signers given). The mapping reads key files, so an unreadable key stops start-up naming its field,
never becoming an empty key set. Trusted roots are named (`trustedRoot`, default `public-good`) and
handed in already loaded (`app.config.source.trusted_roots`). A new kind of trust material is a new field here and a
new argument of `Policy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic import model_validator as _model_validator

from app.config.fields import ConfigModel, ConfigPath, Pattern, PolicyName, RootName, SecretName, os_reason
from app.core.admission.policy import Mode, Pinning, Policy, TrustedIdentity
from app.core.errors import ConfigError, KeyLoadError
from app.core.trust.builtin import PUBLIC_GOOD
from app.core.trust.identities import IdentityMatcher
from app.core.trust.keys import TrustedKey, load_public_key
from app.core.trust.roots import TrustedRoot
from app.core.trust.signers import IdentitySigner
from app.core.verification.entity_checks import Requirements

MAX_KEY_FILE_BYTES = 64 * 1024

_FLAG = TypeAdapter(bool)


def _pinning(value: Any) -> Any:
    """`pinDigest` in the words of `Pinning`, or as first spelled: `podsOnly`, `true`, `false`."""
    if value == "podsOnly":
        return Pinning.PODS
    if isinstance(value, str) and value in {p.value for p in Pinning}:
        return value
    try:
        return Pinning.ALL if _FLAG.validate_python(value) else Pinning.NONE
    except ValidationError:
        return value  # refused by the enum, which lists the words


class KeyConfig(ConfigModel):
    """One trusted public key: exactly one of `file`, `pem`, `secret`."""

    file: ConfigPath | None = None
    pem: str | None = None
    secret: SecretName | None = None

    @_model_validator(mode="after")
    def _exactly_one(self) -> KeyConfig:
        given = [n for n in ("file", "pem", "secret") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of file, pem, secret (got {', '.join(given) or 'none'})")
        return self


class Need(StrEnum):
    """`transparencyLog` and `ctLog`: `required` (cosign's default) or `ignore`."""

    REQUIRED = "required"
    IGNORE = "ignore"


class KeylessConfig(ConfigModel):
    """One keyless identity: `issuer` or `issuerRegExp`, `subject` or `subjectRegExp` (regular
    expressions match the whole value), and the trusted root its certificates chain to."""

    issuer: str | None = None
    issuer_reg_exp: str | None = None
    subject: str | None = None
    subject_reg_exp: str | None = None
    trusted_root: RootName | None = None  # default: the policy's trustedRoot

    @_model_validator(mode="after")
    def _one_of_each(self) -> KeylessConfig:
        self.matcher()  # the core's rule: exactly one of each pair, valid expressions
        return self

    def matcher(self) -> IdentityMatcher:
        try:
            return IdentityMatcher.build(
                self.subject, self.subject_reg_exp, self.issuer, self.issuer_reg_exp, where="identity"
            )
        except ConfigError as exc:
            raise ValueError(exc.reason.removeprefix("identity: ")) from None


class PolicyConfig(ConfigModel):
    """One policy as written in the config (docs/configuration.md shows each field)."""

    name: PolicyName
    images: list[Pattern] = Field(min_length=1)
    keys: list[KeyConfig] = Field(default_factory=list)
    keyless: list[KeylessConfig] = Field(default_factory=list)
    trusted_root: RootName = PUBLIC_GOOD
    transparency_log: Need = Need.REQUIRED
    ct_log: Need = Need.REQUIRED
    threshold: int = Field(1, ge=1)
    mode: Mode = Mode.ENFORCE
    pin_digest: Annotated[Pinning, BeforeValidator(_pinning)] = Pinning.PODS

    @_model_validator(mode="after")
    def _some_signer(self) -> PolicyConfig:
        if not self.keys and not self.keyless:
            raise ValueError("a policy trusts keys, keyless identities or both: give keys or keyless")
        return self

    def root_names(self) -> list[tuple[str, str]]:
        """(field, root name) for every trusted root this policy names, relative to the policy."""
        named = [("trustedRoot", self.trusted_root)]
        named.extend(
            (f"keyless[{i}].trustedRoot", entry.trusted_root)
            for i, entry in enumerate(self.keyless)
            if entry.trusted_root is not None
        )
        return named

    def to_policy(self, field: str, roots: Mapping[str, TrustedRoot]) -> Policy:
        """The core policy, with file and inline keys loaded now and roots taken from `roots` (by
        name); `field` locates this policy in errors (`policies[0]`)."""
        static: list[TrustedKey] = []
        for j, key in enumerate(self.keys):
            where = f"{field}.keys[{j}]"
            if key.file is not None:
                static.append(_load_key_file(key.file, f"{where}.file"))
            elif key.pem is not None:
                name = f'inline key {j} of policy "{self.name}"'
                static.append(_load_key(key.pem.encode(), name, f"{where}.pem"))
        secrets = tuple(key.secret for key in self.keys if key.secret is not None)
        identities = tuple(
            TrustedIdentity(
                IdentitySigner(entry.matcher()),
                _root(roots, entry.trusted_root or self.trusted_root, f"{field}.keyless[{i}].trustedRoot"),
            )
            for i, entry in enumerate(self.keyless)
        )
        try:
            return Policy(
                name=self.name,
                patterns=tuple(self.images),
                static_keys=tuple(static),
                secrets=secrets,
                threshold=self.threshold,
                mode=self.mode,
                pinning=self.pin_digest,
                identities=identities,
                key_root=_root(roots, self.trusted_root, f"{field}.trustedRoot"),
                requirements=Requirements(
                    transparency_log=self.transparency_log is Need.REQUIRED, sct=self.ct_log is Need.REQUIRED
                ),
            )
        except ConfigError as exc:
            raise ConfigError(f"{field}: {exc.reason}") from exc


def to_policies(
    specs: Sequence[PolicyConfig], roots: Mapping[str, TrustedRoot], field: str = "policies"
) -> tuple[Policy, ...]:
    """The core policies of `specs` (`ConfigError` naming the field)."""
    return tuple(spec.to_policy(f"{field}[{i}]", roots) for i, spec in enumerate(specs))


def _root(roots: Mapping[str, TrustedRoot], name: str, field: str) -> TrustedRoot:
    root = roots.get(name)
    if root is None:  # `Settings` refuses unknown names first; a caller with other roots may not
        known = ", ".join(sorted(roots)) or "none"
        raise ConfigError(f"{field}: unknown trusted root {name!r} (known: {known})")
    return root


def _load_key_file(path: Path, field: str) -> TrustedKey:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {os_reason(exc)}") from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"{field}: {path} is larger than {MAX_KEY_FILE_BYTES} bytes: not a public key")
    return _load_key(data, str(path), field)


def _load_key(pem: bytes, name: str, field: str) -> TrustedKey:
    try:
        return load_public_key(pem, name)
    except KeyLoadError as exc:
        raise ConfigError(f"{field}: {exc.reason}", exc.detail) from exc
