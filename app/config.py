"""The webhook's YAML configuration: parsed and validated at start-up, then turned into core types.

Keys are camelCase, as in Kubernetes manifests. Every error names the field
(`policies[0].keys[1].file: cannot read /keys/cosign.pub: no such file`) and stops start-up: a
policy or key that cannot be loaded never becomes an empty key set. Relative paths are relative to
the directory of the config file. A complete example (every field at its default unless noted):

```yaml
server:
  host: 0.0.0.0
  port: 8443
  tls: {certFile: /tls/tls.crt, keyFile: /tls/tls.key}   # or {selfSignedDir: ./tls}
  docs: false
deadlineSeconds: 8
unmatched: deny
skipNamespaces: [sigwebhook, kube-system]
exemptImages: []
registries: {insecure: [], caFiles: {}, defaultCaFile: null, dockerConfigFile: null,
             pullSecret: null, timeoutSeconds: 5}
kubernetes: {kubeconfig: null}
signatures: {acceptedPredicateTypes: ["https://sigstore.dev/cosign/sign/v1"]}
verdictCache: {ttlSeconds: 60, maxEntries: 10000}
policies:                                                  # required, at least one
  - name: prod
    images: ["registry.example.com/team/**"]
    keys: [{file: /keys/cosign.pub}, {pem: "-----BEGIN PUBLIC KEY-----…"}, {secret: "k8s://sigwebhook/cosign-keys"}]
    threshold: 1
```

This module reads files (the config, key files); it builds no client and starts nothing: that is
the composition root's job (`app.compose`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic import model_validator as _model_validator
from pydantic.alias_generators import to_camel

from app.core.dsse import COSIGN_SIGN_PREDICATE
from app.core.errors import ConfigError, KeyLoadError
from app.core.keys import TrustedKey, load_public_key
from app.core.keysources import SecretRef
from app.core.policy import AdmissionPolicy, ImagePattern, Policy, Unmatched, normalise_pattern

MAX_KEY_FILE_BYTES = 64 * 1024
# The API server waits at most 30 s for a webhook (admissionregistration/v1 timeoutSeconds: 1-30).
MAX_DEADLINE_SECONDS = 30.0


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


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class TlsConfig(_Model):
    """`server.tls`: the serving certificate. Either `certFile` + `keyFile` (PEM; in a cluster, the
    Secret a cert-manager Certificate or the chart writes), or `selfSignedDir`: a directory where a
    self-signed certificate for localhost is generated on first start and reused after."""

    cert_file: ConfigPath | None = None
    key_file: ConfigPath | None = None
    self_signed_dir: ConfigPath | None = None

    @_model_validator(mode="after")
    def _one_source(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("certFile and keyFile go together")
        if self.cert_file is None and self.self_signed_dir is None:
            raise ValueError("give certFile and keyFile, or selfSignedDir")
        if self.cert_file is not None and self.self_signed_dir is not None:
            raise ValueError("give certFile and keyFile, or selfSignedDir, not both")
        return self


class ServerConfig(_Model):
    """`server`: where `POST /validate`, `GET /healthz` and `GET /readyz` listen (HTTPS only).
    `docs: true` serves the OpenAPI page at `/docs` (off in production)."""

    host: str = "0.0.0.0"
    port: int = Field(8443, ge=1, le=65535)
    tls: TlsConfig
    docs: bool = False


class RegistriesConfig(_Model):
    """`registries`: how registries are reached, as the CLI's registry options.
    `insecure`: hosts reached over plain HTTP; `caFiles`: host → CA bundle (PEM) trusted for that host;
    `defaultCaFile`: a CA bundle for every other host (added to the public roots); `dockerConfigFile`:
    a Docker `config.json` with pull credentials; `pullSecret`: a `kubernetes.io/dockerconfigjson`
    Secret (`k8s://namespace/name`) watched for credentials; `timeoutSeconds`: per HTTP exchange."""

    insecure: list[str] = []
    ca_files: dict[str, ConfigPath] = {}
    default_ca_file: ConfigPath | None = None
    docker_config_file: ConfigPath | None = None
    pull_secret: SecretName | None = None
    timeout_seconds: float = Field(5.0, gt=0, le=MAX_DEADLINE_SECONDS)


class KubernetesConfig(_Model):
    """`kubernetes`: how to reach the API server, needed only when a key or `pullSecret` is a
    `k8s://` Secret. `kubeconfig: null` uses the in-cluster service account."""

    kubeconfig: ConfigPath | None = None


class SignaturesConfig(_Model):
    """`signatures.acceptedPredicateTypes`: in-toto predicate types accepted in v3 bundles (DSSE)."""

    accepted_predicate_types: list[str] = Field(default_factory=lambda: [COSIGN_SIGN_PREDICATE], min_length=1)


class KeyConfig(_Model):
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


class PolicyConfig(_Model):
    """One policy. `images`: glob patterns over normalised references (`*` within a path component,
    `**` across `/`; `nginx` means `docker.io/library/nginx`). `keys`: the keys it trusts.
    `threshold`: how many distinct trusted keys must have signed (default 1). Every policy matching
    an image applies, and all must pass."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    images: list[Pattern] = Field(min_length=1)
    keys: list[KeyConfig] = Field(min_length=1)
    threshold: int = Field(1, ge=1)


class VerdictCacheConfig(_Model):
    """`verdictCache`: verdicts where a signature verified are kept in memory for `ttlSeconds`
    (0 turns the cache off), at most `maxEntries`. Keyed by digest + key fingerprints: a moved tag or a
    rotated key is never served from it; a deny is never cached."""

    ttl_seconds: float = Field(60.0, ge=0)
    max_entries: int = Field(10_000, ge=1)


class Settings(_Model):
    """The whole configuration.

    `deadlineSeconds`: a review is answered within this time (below the webhook's `timeoutSeconds`,
    10 by default); an image not verified by then is denied. `unmatched`: `deny` (default) or `allow`
    an image no policy matches. `skipNamespaces`: namespaces whose pods are not checked at all.
    `exemptImages`: glob patterns of images admitted without a signature. `logLevel`: debug, info,
    warning or error."""

    server: ServerConfig
    deadline_seconds: float = Field(8.0, gt=0, lt=MAX_DEADLINE_SECONDS)
    unmatched: Literal["deny", "allow"] = "deny"
    skip_namespaces: list[str] = Field(default_factory=lambda: ["sigwebhook", "kube-system"])
    exempt_images: list[Pattern] = []
    registries: RegistriesConfig = Field(default_factory=lambda: RegistriesConfig.model_validate({}))
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    signatures: SignaturesConfig = Field(default_factory=SignaturesConfig)
    verdict_cache: VerdictCacheConfig = Field(default_factory=lambda: VerdictCacheConfig.model_validate({}))
    policies: list[PolicyConfig] = Field(min_length=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, policies: list[PolicyConfig]) -> list[PolicyConfig]:
        names = [p.name for p in policies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"policy names must be unique: {', '.join(duplicates)}")
        return policies

    def secret_refs(self) -> list[SecretRef]:
        """Every key Secret the policies name (what the key store watches)."""
        refs = {SecretRef.parse(k.secret) for p in self.policies for k in p.keys if k.secret is not None}
        return sorted(refs)

    def needs_cluster(self) -> bool:
        return bool(self.secret_refs()) or self.registries.pull_secret is not None


def load_settings(path: Path | str) -> Settings:
    """Read and validate the YAML config at `path`; `ConfigError` naming the file and field otherwise."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {source}: {_os_reason(exc)}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from exc
    return parse_settings(data, base_dir=source.resolve().parent, origin=str(source))


def parse_settings(data: Any, base_dir: Path | None = None, origin: str = "config") -> Settings:
    """Validate already-decoded config data (a mapping)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the config must be a mapping of fields (server, policies, …)")
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [f"{_location(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError(f"{origin}: invalid config:\n  " + "\n  ".join(lines)) from exc


def admission_policy(settings: Settings) -> AdmissionPolicy:
    """The frozen core policy, with file and inline keys loaded now (`ConfigError` naming the field)."""
    policies = []
    for i, spec in enumerate(settings.policies):
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
                )
            )
        except ConfigError as exc:
            raise ConfigError(f"policies[{i}]: {exc.reason}") from exc
    return AdmissionPolicy(
        policies=tuple(policies),
        unmatched=Unmatched(settings.unmatched),
        skip_namespaces=frozenset(settings.skip_namespaces),
        exempt_images=tuple(ImagePattern(t) for t in settings.exempt_images),
    )


def _load_key_file(path: Path, field: str) -> TrustedKey:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {_os_reason(exc)}") from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"{field}: {path} is larger than {MAX_KEY_FILE_BYTES} bytes: not a public key")
    return _load_key(data, str(path), field)


def _load_key(pem: bytes, name: str, field: str) -> TrustedKey:
    try:
        return load_public_key(pem, name)
    except KeyLoadError as exc:
        raise ConfigError(f"{field}: {exc.reason}", exc.detail) from exc


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _os_reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
