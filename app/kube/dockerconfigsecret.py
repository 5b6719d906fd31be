"""`parse_pull_secret`: registry credentials from one image pull Secret.

A `kubernetes.io/dockerconfigjson` Secret holds a Docker config under `.dockerconfigjson`; the legacy
`kubernetes.io/dockercfg` type holds the bare `auths` map under `.dockercfg` (core/v1 Secret types).
Parsing the config itself is the registry adapter's (`app.registry.credentials.parse_docker_config`).
Both the webhook's own pull Secret (`webhookpullsecret`) and the pods' (`podpullsecrets`) are read
with it. No error message quotes a Secret value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from app.core.errors import ConfigError
from app.kube.client import Secret
from app.registry.credentials import Credential, parse_docker_config

DOCKER_CONFIG_JSON = ("kubernetes.io/dockerconfigjson", ".dockerconfigjson")
DOCKER_CFG = ("kubernetes.io/dockercfg", ".dockercfg")


def parse_pull_secret(secret: Secret) -> Mapping[str, Credential]:
    """Credentials by normalised registry host from one Secret; `ConfigError` when unusable."""
    entry = DOCKER_CFG[1] if secret.type == DOCKER_CFG[0] else DOCKER_CONFIG_JSON[1]
    if secret.type not in (DOCKER_CONFIG_JSON[0], DOCKER_CFG[0]):
        raise ConfigError(f"Secret {secret.ref} has type {secret.type!r}, expected {DOCKER_CONFIG_JSON[0]!r}")
    raw = secret.data.get(entry)
    if raw is None:
        raise ConfigError(f"Secret {secret.ref} has no {entry} entry")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"Secret {secret.ref} entry {entry} is not JSON") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"Secret {secret.ref} entry {entry} must be a JSON object")
    if entry == DOCKER_CFG[1]:
        document = {"auths": document}
    return parse_docker_config(document, origin=f"Secret {secret.ref} {entry}")
