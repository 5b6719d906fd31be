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
skipNamespaces: [<own namespace>, kube-system]  # own: $POD_NAMESPACE, the service account's, or sigwebhook
exemptImages: []
registries: {insecure: [], caFiles: {}, defaultCaFile: null, dockerConfigFile: null,
             pullSecret: null, podPullSecrets: false, timeoutSeconds: 5}
metrics: {enabled: false, host: 0.0.0.0, port: 9090}
kubernetes: {kubeconfig: null}
signatures: {acceptedPredicateTypes: ["https://sigstore.dev/cosign/sign/v1"]}
verdictCache: {ttlSeconds: 60, maxEntries: 10000}
policies:                                                  # required, at least one
  - name: prod
    images: ["registry.example.com/team/**"]
    keys: [{file: /keys/cosign.pub}, {pem: "-----BEGIN PUBLIC KEY-----…"}, {secret: "k8s://sigwebhook/cosign-keys"}]
    threshold: 1
    mode: enforce                                          # or warn: admit, with warnings
    pinDigest: podsOnly                                    # or true (workloads too) or false
```

The policy models (`policies[]`, `keys[]`) and the shared field types are in `app.policyconfig`.

This module reads files (the config, key files); it builds no client and starts nothing: that is
the composition root's job (`app.compose`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from app.core.admission.policy import AdmissionPolicy, ImagePattern, Unmatched
from app.core.errors import ConfigError
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.trust.secretkeys import SecretRef
from app.policyconfig import (
    MAX_KEY_FILE_BYTES,
    ConfigModel,
    ConfigPath,
    KeyConfig,
    Pattern,
    PolicyConfig,
    SecretName,
    build_policies,
    os_reason,
)

__all__ = [
    "MAX_KEY_FILE_BYTES",
    "KeyConfig",
    "PolicyConfig",
    "Settings",
    "admission_policy",
    "load_settings",
    "parse_settings",
]

# The API server waits at most 30 s for a webhook (admissionregistration/v1 timeoutSeconds: 1-30).
MAX_DEADLINE_SECONDS = 30.0


class TlsConfig(ConfigModel):
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


class ServerConfig(ConfigModel):
    """`server`: where `POST /validate`, `GET /healthz` and `GET /readyz` listen (HTTPS only).
    `docs: true` serves the OpenAPI page at `/docs` (off in production)."""

    host: str = "0.0.0.0"
    port: int = Field(8443, ge=1, le=65535)
    tls: TlsConfig
    docs: bool = False


class RegistriesConfig(ConfigModel):
    """`registries`: how registries are reached, as the CLI's registry options.
    `insecure`: hosts reached over plain HTTP; `caFiles`: host → CA bundle (PEM) trusted for that host;
    `defaultCaFile`: a CA bundle for every other host (added to the public roots); `dockerConfigFile`:
    a Docker `config.json` with pull credentials; `pullSecret`: a `kubernetes.io/dockerconfigjson`
    Secret (`k8s://namespace/name`) watched for credentials; `timeoutSeconds`: per HTTP exchange.
    `podPullSecrets`: also use the credentials the kubelet pulls each pod's images with (the pod's
    `imagePullSecrets`, else its ServiceAccount's; `app.kube.podsecrets`). Off by default: it needs
    `get` on secrets and serviceaccounts in every namespace whose pods are checked."""

    insecure: list[str] = Field(default_factory=list)
    ca_files: dict[str, ConfigPath] = Field(default_factory=dict)
    default_ca_file: ConfigPath | None = None
    docker_config_file: ConfigPath | None = None
    pull_secret: SecretName | None = None
    timeout_seconds: float = Field(5.0, gt=0, le=MAX_DEADLINE_SECONDS)
    pod_pull_secrets: bool = False


class MetricsConfig(ConfigModel):
    """`metrics`: Prometheus metrics at `GET /metrics`, plain HTTP on `host:port`, apart from the
    admission port (`app.webhook.metrics`). Off unless `enabled` (the chart turns it on); port 0
    picks a free port."""

    enabled: bool = False
    host: str = "0.0.0.0"
    port: int = Field(9090, ge=0, le=65535)


class KubernetesConfig(ConfigModel):
    """`kubernetes`: how to reach the API server, needed only when a key or `pullSecret` is a
    `k8s://` Secret. `kubeconfig: null` uses the in-cluster service account."""

    kubeconfig: ConfigPath | None = None


class SignaturesConfig(ConfigModel):
    """`signatures.acceptedPredicateTypes`: in-toto predicate types accepted in v3 bundles (DSSE)."""

    accepted_predicate_types: list[str] = Field(default_factory=lambda: [COSIGN_SIGN_PREDICATE], min_length=1)


class VerdictCacheConfig(ConfigModel):
    """`verdictCache`: verdicts where a signature verified are kept in memory for `ttlSeconds`
    (0 turns the cache off), at most `maxEntries`. Keyed by digest + key fingerprints: a moved tag or a
    rotated key is never served from it; a deny is never cached."""

    ttl_seconds: float = Field(60.0, ge=0)
    max_entries: int = Field(10_000, ge=1)


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "sigwebhook"


def own_namespace(service_account_file: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The namespace the webhook runs in, for the default `skipNamespaces`: `$POD_NAMESPACE` (the
    downward API), else the mounted service account's namespace, else `sigwebhook`."""
    from_env = os.environ.get("POD_NAMESPACE", "").strip()
    if from_env:
        return from_env
    try:
        return service_account_file.read_text(encoding="utf-8").strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


class Settings(ConfigModel):
    """The whole configuration.

    `deadlineSeconds`: a review is answered within this time (below the webhook's `timeoutSeconds`,
    10 by default); an image not verified by then is denied. `unmatched`: `deny` (default) or `allow`
    an image no policy matches. `skipNamespaces`: namespaces whose objects are not checked at all
    (see "Namespace selection" below). `exemptImages`: glob patterns of images admitted without a
    signature (a pattern with a tag never matches an image that carries a digest: `ImagePattern`).
    `logLevel`: debug, info, warning or error.

    Namespace selection. An AdmissionReview carries the namespace's name, not its labels, so
    selecting namespaces by label is the API server's job: the chart writes the webhook
    configurations' `namespaceSelector` (values `webhook.namespaceSelector`):

    - `mode: optOut` (default): every namespace is checked except those labelled
      `sigwebhook.dev/verify: disabled` (`labelKey` is configurable);
    - `mode: optIn`: only namespaces labelled `sigwebhook.dev/verify: enabled` are checked;
    - in both modes the release namespace, `kube-system` and `exclude` are never sent, matched by
      the `kubernetes.io/metadata.name` label the API server sets on every namespace since 1.21.

    The server still skips `skipNamespaces` itself (the chart always adds the release namespace and
    `kube-system`): a second line that holds when the selector cannot, e.g. on Kubernetes 1.20, where
    namespaces have no `kubernetes.io/metadata.name` label, or with a hand-written webhook
    configuration. A namespace label cannot opt a namespace *out* on the server side: the server
    never sees labels, and reading them from the API server on the admission path is what it must
    not do."""

    server: ServerConfig
    deadline_seconds: float = Field(8.0, gt=0, lt=MAX_DEADLINE_SECONDS)
    unmatched: Literal["deny", "allow"] = "deny"
    skip_namespaces: list[str] = Field(default_factory=lambda: [own_namespace(), "kube-system"])
    exempt_images: list[Pattern] = Field(default_factory=list)
    registries: RegistriesConfig = Field(default_factory=lambda: RegistriesConfig.model_validate({}))
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    signatures: SignaturesConfig = Field(default_factory=SignaturesConfig)
    verdict_cache: VerdictCacheConfig = Field(default_factory=lambda: VerdictCacheConfig.model_validate({}))
    metrics: MetricsConfig = Field(default_factory=lambda: MetricsConfig.model_validate({}))
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
        registries = self.registries
        return bool(self.secret_refs()) or registries.pull_secret is not None or registries.pod_pull_secrets


def load_settings(path: Path | str) -> Settings:
    """Read and validate the YAML config at `path`; `ConfigError` naming the file and field otherwise."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {source}: {os_reason(exc)}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        # Not chained: a YAML error quotes the offending line, which may hold an inline key.
        raise ConfigError(
            f"{source}: not valid YAML{where}", f"{source}: {getattr(exc, 'problem', '')}"
        ) from None
    return parse_settings(data, base_dir=source.resolve().parent, origin=str(source))


def parse_settings(data: Any, base_dir: Path | None = None, origin: str = "config") -> Settings:
    """Validate already-decoded config data (a mapping)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the config must be a mapping of fields (server, policies, …)")
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [f"{_location(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        # Not chained: pydantic's own message repeats each input value (an inline PEM, a mistyped
        # password field) and would reach the log with a traceback. The field names are enough.
        raise ConfigError(f"{origin}: invalid config:\n  " + "\n  ".join(lines)) from None


def admission_policy(settings: Settings) -> AdmissionPolicy:
    """The frozen core policy, with file and inline keys loaded now (`ConfigError` naming the field)."""
    return AdmissionPolicy(
        policies=build_policies(settings.policies),
        unmatched=Unmatched(settings.unmatched),
        skip_namespaces=frozenset(settings.skip_namespaces),
        exempt_images=tuple(ImagePattern(t) for t in settings.exempt_images),
    )


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
