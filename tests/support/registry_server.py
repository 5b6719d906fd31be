"""Run Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a random port for tests.

`start_registry` writes a config (plain HTTP, TLS + htpasswd, or token auth), starts the binary, waits
until `/v2/` answers and returns a `TestRegistry`; `TestRegistry.stop()` ends the process it started.
Config keys follow distribution's `docs/configuration.md`.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from app.registry.credentials import Credential
from app.registry.settings import RegistrySettings, Timeouts
from tests.support.certs import ServerTls
from tests.support.token_service import ISSUER, TokenService

REGISTRY_BINARY = "/usr/bin/docker-registry"


@dataclass
class TestRegistry:
    """A running test registry: where it is, how to trust it and who may log in."""

    __test__ = False  # not a pytest test class

    host: str
    storage: Path
    process: subprocess.Popen[bytes] | None = None
    tls: ServerTls | None = None
    username: str | None = None
    password: str | None = None
    token_service: TokenService | None = None
    log_file: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_file if self.tls else None

    @property
    def insecure(self) -> bool:
        return self.tls is None

    def docker_config(self) -> dict[str, object]:
        """A Docker config JSON document with this registry's credentials (`auth` = base64 user:pass)."""
        if self.username is None or self.password is None:
            return {"auths": {}}
        import base64

        auth = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"auths": {self.host: {"auth": auth}}}

    def settings(
        self, *, with_credentials: bool = True, timeouts: Timeouts | None = None
    ) -> RegistrySettings:
        """Ready `RegistrySettings` to reach this registry (insecure when plain HTTP, its CA when TLS)."""
        creds = {}
        if with_credentials and self.username is not None and self.password is not None:
            creds[self.host] = Credential(self.username, self.password)
        insecure = [self.host] if self.insecure else []
        if self.token_service is not None:  # the test token service is plain HTTP on loopback
            insecure.append(self.token_service.realm.split("/")[2])
        return RegistrySettings.build(
            insecure_registries=insecure,
            ca_files={self.host: self.tls.ca_file} if self.tls else {},
            credentials=creds,
            timeouts=timeouts,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.token_service is not None:
            self.token_service.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd line (distribution accepts bcrypt only): `htpasswd`, else `bcrypt`, else libxcrypt."""
    tool = shutil.which("htpasswd")
    if tool:
        out = subprocess.run([tool, "-nbB", username, password], check=True, capture_output=True, text=True)
        return out.stdout.strip()
    try:
        import bcrypt

        return f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
    except ImportError:
        # glibc's libxcrypt does bcrypt ($2b$); the `crypt` module exists up to Python 3.12.
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        return f"{username}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))}"


def start_registry(
    workdir: Path,
    *,
    tls: ServerTls | None = None,
    htpasswd: tuple[str, str] | None = None,
    token_service: TokenService | None = None,
    descriptor_cache: bool = False,
) -> TestRegistry:
    """Start `docker-registry serve` on a free 127.0.0.1 port; return once `/v2/` answers.
    `descriptor_cache`: blob descriptors cached in memory, as distribution's sample configuration
    does (benchmarks; tests that change the storage behind the registry's back do without)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": "sigwebhook-test-secret"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls.cert_file), "key": str(tls.key_file)}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": http,
    }
    if descriptor_cache:
        config["storage"]["cache"] = {"blobdescriptor": "inmemory"}  # type: ignore[index]
    if htpasswd is not None:
        path = workdir / "htpasswd"
        path.write_text(htpasswd_line(*htpasswd) + "\n")
        config["auth"] = {"htpasswd": {"realm": "sigwebhook-test", "path": str(path)}}
    if token_service is not None:
        config["auth"] = {
            "token": {
                "realm": token_service.realm,
                "service": token_service.service,
                "issuer": ISSUER,
                "rootcertbundle": str(token_service.signing_key.cert_file),
            }
        }
    config_file = workdir / "config.yml"
    config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
    log_file = workdir / "registry.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_file)], stdout=log, stderr=subprocess.STDOUT
        )
    registry = TestRegistry(
        host=f"127.0.0.1:{port}",
        storage=storage,
        process=process,
        tls=tls,
        username=(htpasswd or (None, None))[0],
        password=(htpasswd or (None, None))[1],
        token_service=token_service,
        log_file=log_file,
    )
    _wait_until_ready(registry)
    return registry


def _wait_until_ready(registry: TestRegistry, timeout: float = 15.0) -> None:
    context = ssl.create_default_context(cafile=str(registry.ca_file)) if registry.ca_file else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.process is not None and registry.process.poll() is not None:
            log = registry.log_file.read_text() if registry.log_file else ""
            raise RuntimeError(f"docker-registry exited with {registry.process.returncode}: {log[-2000:]}")
        try:
            urllib.request.urlopen(f"{registry.url}/v2/", timeout=1, context=context).close()
            return
        except urllib.error.HTTPError:
            return  # 401 means it is up and wants auth
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry on {registry.host} did not become ready within {timeout} s")
