"""The policy part of the webhook's config: `policies[]` and their `keys[]`, and the base model and
field types every config model shares (camelCase keys, paths relative to the config file, image
patterns and Secret names checked as they are parsed).

`build_policies` turns the parsed policies into the core's `Policy` objects, reading key files now:
a key that cannot be loaded stops start-up with the field named (`policies[0].keys[1].file: …`),
never an empty key set. Reads key files; builds no client.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic import model_validator as _model_validator
from pydantic.alias_generators import to_camel

from app.core.admission.policy import ImagePattern, Mode, Pinning, Policy, normalise_pattern
from app.core.errors import ConfigError, KeyLoadError
from app.core.trust.keys import TrustedKey, load_public_key
from app.core.trust.secretkeys import SecretRef

MAX_KEY_FILE_BYTES = 64 * 1024


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the config file's directory (passed in the validation context)."""
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    return value if value.is_absolute() or base is None else Path(base) / value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]


def _secret_ref(value: str) -> str:
    try:
        SecretRef.parse(value)
    except ConfigError as exc:
        raise ValueError(exc.reason) from None
    return value


def _pattern(value: str) -> str:
    try:
        normalise_pattern(value)
    except ConfigError as exc:
        raise ValueError(exc.reason) from None
    return value


SecretName = Annotated[str, AfterValidator(_secret_ref)]
Pattern = Annotated[str, AfterValidator(_pattern)]


class ConfigModel(BaseModel):
    """The base of every config model: camelCase keys, unknown keys refused, frozen."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class KeyConfig(ConfigModel):
    """One trusted public key (PEM: ECDSA P-256/384/521, RSA ≥ 2048, Ed25519), exactly one of:
    `file` (a path), `pem` (inline), `secret` (`k8s://namespace/name`: every `cosign.pub`, `*.pub` and
    `*.pem` entry of that Secret, watched: a rotated key applies to the next review)."""

    file: ConfigPath | None = None
    pem: str | None = None
    secret: SecretName | None = None

    @_model_validator(mode="after")
    def _exactly_one(self) -> KeyConfig:
        given = [n for n in ("file", "pem", "secret") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of file, pem, secret (got {', '.join(given) or 'none'})")
        return self


class PolicyConfig(ConfigModel):
    """One policy. `images`: glob patterns over normalised references (`*` within a path component,
    `**` across `/`; `nginx` means `docker.io/library/nginx`). `keys`: the keys it trusts.
    `threshold`: how many distinct trusted keys must have signed (default 1). Every policy matching
    an image applies, and all must pass.

    `mode`: `enforce` (default) denies an object whose image fails this policy; `warn` admits it and
    sends the reasons back as AdmissionReview warnings (kubectl prints them), and the audit record
    says `would_deny: true`. Roll a new policy out in `warn`, read the audit log, then enforce.
    An image that fails an `enforce` policy is denied whatever its `warn` policies say; an image no
    policy matches is governed by `unmatched`, not by any policy's mode.

    `pinDigest`: what `POST /mutate` (the mutating webhook, when the chart registers it) does with
    the images this policy verified: `podsOnly` (default) rewrites them to `name@sha256:<digest>` in
    pods only, which is enough for the kubelet to pull exactly what was verified and leaves
    Deployments & co. as written (Argo CD and Flux would see a pinned template as drift); `true`
    pins workload templates too; `false` never pins. An image is pinned only when every policy
    matching it allows it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    images: list[Pattern] = Field(min_length=1)
    keys: list[KeyConfig] = Field(min_length=1)
    threshold: int = Field(1, ge=1)
    mode: Literal["enforce", "warn"] = "enforce"
    pin_digest: bool | Literal["podsOnly"] = "podsOnly"

    def pinning(self) -> Pinning:
        """`pinDigest` as the core's `Pinning`."""
        if self.pin_digest == "podsOnly":
            return Pinning.PODS
        return Pinning.ALL if self.pin_digest is True else Pinning.NONE


def build_policies(specs: Sequence[PolicyConfig]) -> tuple[Policy, ...]:
    """The core policies, with file and inline keys loaded now (`ConfigError` naming the field)."""
    policies = []
    for i, spec in enumerate(specs):
        static: list[TrustedKey] = []
        secrets: list[SecretRef] = []
        for j, key in enumerate(spec.keys):
            where = f"policies[{i}].keys[{j}]"
            if key.secret is not None:
                secrets.append(SecretRef.parse(key.secret))
            elif key.file is not None:
                static.append(_load_key_file(key.file, f"{where}.file"))
            elif key.pem is not None:
                static.append(
                    _load_key(key.pem.encode(), f'inline key {j} of policy "{spec.name}"', f"{where}.pem")
                )
        try:
            policies.append(
                Policy(
                    spec.name,
                    tuple(ImagePattern(t) for t in spec.images),
                    tuple(static),
                    tuple(secrets),
                    spec.threshold,
                    Mode(spec.mode),
                    spec.pinning(),
                )
            )
        except ConfigError as exc:
            raise ConfigError(f"policies[{i}]: {exc.reason}") from exc
    return tuple(policies)


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


def os_reason(exc: BaseException) -> str:
    """Why a file could not be read, in a few words (`No such file or directory`), never its content."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
