"""Registry credentials, read from a Docker config JSON (`~/.docker/config.json`, a `dockerconfigjson` Secret).

Format (docker/cli `configfile`): `{"auths": {"<host or URL>": {"auth": base64("user:pass")} | {"username":
…, "password": …} | {"identitytoken": …}}}`. Keys may be a bare host (`registry.example:5000`) or a URL
(`https://index.docker.io/v1/`, Docker Hub's legacy key). Credential helpers (`credsStore`, `credHelpers`)
run programs and are not supported here: a config naming one gets a warning, and its `auths` are used.
This module parses; it does no I/O except reading the file it is given, and it never puts a secret in
an error message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from app.core.errors import ConfigError
from app.core.references import DOCKER_HUB

log = logging.getLogger(__name__)

# Names under which Docker Hub appears in configs and challenges; all mean `docker.io`.
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_HOST = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Credential:
    """A username/password pair, or an OAuth2 refresh token (`identitytoken`). Secrets stay out of repr."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    @property
    def has_basic(self) -> bool:
        return bool(self.username or self.password)


def normalize_host(text: str, what: str = "registry") -> str:
    """`https://Index.Docker.io/v1/` → `docker.io`; `127.0.0.1:5000/` → `127.0.0.1:5000`.

    Raises `ConfigError` naming `what` when the text is not a host[:port]."""
    value = text.strip()
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0].lower()
    if not _HOST.match(value):
        raise ConfigError(f"{what} {text!r} is not a registry host[:port]")
    return DOCKER_HUB if value in _DOCKER_HUB_ALIASES else value


def load_docker_config(source: Path | str | Mapping[str, object]) -> Mapping[str, Credential]:
    """Credentials by normalised registry host, from a Docker config file path or its parsed JSON."""
    if isinstance(source, Mapping):
        return parse_docker_config(source, origin="registry config")
    path = Path(source).expanduser()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"registry config {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"registry config {path} cannot be read: {exc.__class__.__name__}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"registry config {path} is not JSON (line {exc.lineno})") from exc
    if not isinstance(document, Mapping):
        raise ConfigError(f"registry config {path} must be a JSON object")
    return parse_docker_config(document, origin=f"registry config {path}")


def parse_docker_config(
    document: Mapping[str, object], origin: str = "registry config"
) -> Mapping[str, Credential]:
    """Credentials from the `auths` object of a parsed Docker config (other keys are ignored)."""
    helpers = [name for name in ("credsStore", "credHelpers") if document.get(name)]
    if helpers:  # said, not silently ignored: hosts only a helper knows are reached anonymously
        log.warning(
            "%s: %s not supported (credential helpers run programs); only its 'auths' entries are used",
            origin,
            " and ".join(helpers),
        )
    auths = document.get("auths", {})
    if not isinstance(auths, Mapping):
        raise ConfigError(f"{origin}: 'auths' must be an object")
    found: dict[str, Credential] = {}
    for key, entry in auths.items():
        where = f"{origin}: auths[{key!r}]"
        host = normalize_host(str(key), what=where)
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be an object")
        credential = _parse_entry(entry, where)
        if credential is not None:
            found[host] = credential
    return MappingProxyType(found)


def _parse_entry(entry: Mapping[str, object], where: str) -> Credential | None:
    for name in ("auth", "username", "password", "identitytoken"):
        if name in entry and not isinstance(entry[name], str):
            raise ConfigError(f"{where}.{name} must be a string")
    username = str(entry.get("username", ""))
    password = str(entry.get("password", ""))
    encoded = str(entry.get("auth", ""))
    if encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}.auth is not base64 of 'user:password'") from exc
        if ":" not in decoded:
            raise ConfigError(f"{where}.auth is not base64 of 'user:password'")
        username, _, password = decoded.partition(":")
    identity_token = str(entry.get("identitytoken", ""))
    if not (username or password or identity_token):
        return None  # an entry with nothing usable (e.g. only "email") means anonymous
    return Credential(username=username, password=password, identity_token=identity_token)
