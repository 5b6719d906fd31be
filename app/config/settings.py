"""`Settings`: the whole config file as validated models (docs/configuration.md shows each field).

Parsing reads nothing but the environment for one default (the webhook's own namespace); key files
and trusted root files are read when the policies are mapped to the core (`app.config.source`).
Every trusted root a policy names must be `public-good` (built in) or listed under `trustedRoots`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic import model_validator as _model_validator

from app.config.fields import ConfigModel, ConfigPath, Pattern, RootName, SecretName
from app.config.policies import PolicyConfig
from app.core.admission.policy import Unmatched, check_unique_names
from app.core.errors import ConfigError
from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.trust.builtin import PUBLIC_GOOD

# The API server waits at most 30 s for a webhook (admissionregistration/v1 timeoutSeconds: 1-30).
MAX_DEADLINE_SECONDS = 30.0
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "sigwebhook"


class TlsConfig(ConfigModel):
    """`server.tls`: `certFile` + `keyFile`, or `selfSignedDir`."""

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
    """`server`: where the HTTPS endpoints listen."""

    host: str = "0.0.0.0"
    port: int = Field(8443, ge=1, le=65535)
    tls: TlsConfig
    docs: bool = False
    max_connections: int = Field(256, ge=1, le=10_000)  # open at once (`app.webhook.listener`)
    # uvicorn's event loop and HTTP parser; `auto` takes uvloop and httptools when installed
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    http: Literal["auto", "h11", "httptools"] = "auto"


class RegistriesConfig(ConfigModel):
    """`registries`: how registries are reached and with which credentials."""

    insecure: list[str] = Field(default_factory=list)
    ca_files: dict[str, ConfigPath] = Field(default_factory=dict)
    default_ca_file: ConfigPath | None = None
    docker_config_file: ConfigPath | None = None
    pull_secret: SecretName | None = None
    timeout_seconds: float = Field(5.0, gt=0, le=MAX_DEADLINE_SECONDS)
    pod_pull_secrets: bool = False
    # registry requests in flight at once, in all and to one host (`app.registry.gate`)
    max_requests_in_flight: int = Field(64, ge=1, le=1024)
    max_requests_per_registry: int = Field(16, ge=1, le=1024)
    # a tag's digest reused this long by /mutate, which pins it (`app.core.tagreuse`); 0: never
    tag_reuse_seconds: float = Field(10.0, ge=0, le=300)
    # … and by /validate too: without pinning, a tag moved within that time may run unverified
    tag_reuse_on_validate: bool = False


class MetricsConfig(ConfigModel):
    """`metrics`: the Prometheus endpoint, apart from the admission port."""

    enabled: bool = False
    host: str = "0.0.0.0"
    port: int = Field(9090, ge=0, le=65535)


class KubernetesConfig(ConfigModel):
    """`kubernetes`: how to reach the API server (`kubeconfig: null`: in-cluster)."""

    kubeconfig: ConfigPath | None = None


class SignaturesConfig(ConfigModel):
    """`signatures`: what a signature may say."""

    accepted_predicate_types: list[str] = Field(default_factory=lambda: [COSIGN_SIGN_PREDICATE], min_length=1)


class VerdictCacheConfig(ConfigModel):
    """`verdictCache`: how long and how many verdicts are kept (a complete deny much less long)."""

    ttl_seconds: float = Field(60.0, ge=0)
    negative_ttl_seconds: float = Field(5.0, ge=0, le=60)
    max_entries: int = Field(10_000, ge=1)


class TrustedRootConfig(ConfigModel):
    """One entry of `trustedRoots`: a Sigstore trusted root JSON file (read once, at start-up)."""

    file: ConfigPath


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
    """The whole configuration."""

    server: ServerConfig
    deadline_seconds: float = Field(8.0, gt=0, lt=MAX_DEADLINE_SECONDS)
    unmatched: Unmatched = Unmatched.DENY
    skip_namespaces: list[str] = Field(default_factory=lambda: [own_namespace(), "kube-system"])
    exempt_images: list[Pattern] = Field(default_factory=list)
    registries: RegistriesConfig = Field(default_factory=lambda: RegistriesConfig.model_validate({}))
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    signatures: SignaturesConfig = Field(default_factory=SignaturesConfig)
    verdict_cache: VerdictCacheConfig = Field(default_factory=lambda: VerdictCacheConfig.model_validate({}))
    metrics: MetricsConfig = Field(default_factory=lambda: MetricsConfig.model_validate({}))
    trusted_roots: dict[RootName, TrustedRootConfig] = Field(default_factory=dict)
    policies: list[PolicyConfig] = Field(min_length=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("trusted_roots")
    @classmethod
    def _not_built_in(cls, roots: dict[str, TrustedRootConfig]) -> dict[str, TrustedRootConfig]:
        if PUBLIC_GOOD in roots:
            raise ValueError(f"{PUBLIC_GOOD} is built in: give your own root another name")
        return roots

    @_model_validator(mode="after")
    def _known_roots(self) -> Settings:
        known = {PUBLIC_GOOD, *self.trusted_roots}
        unknown = [
            f"policies[{i}].{where}: unknown trusted root {name!r} (known: {', '.join(sorted(known))})"
            for i, policy in enumerate(self.policies)
            for where, name in policy.root_names()
            if name not in known
        ]
        if unknown:
            raise ValueError("; ".join(unknown))
        return self

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, policies: list[PolicyConfig]) -> list[PolicyConfig]:
        try:
            check_unique_names(p.name for p in policies)
        except ConfigError as exc:
            raise ValueError(exc.reason) from None
        return policies
