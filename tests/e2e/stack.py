"""The end-to-end stack: keys, signed images, RBAC, `sigwebhook serve` and its webhook registration.

`start_stack(cluster, registry)` builds everything on top of a running API server and registry and
tears down what it started (the webhook process; the namespaces and the webhook configuration go
with the session's API server). `WebhookProcess` runs `python -m app serve --config FILE` and waits
for `/readyz` over HTTPS by polling.
"""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import yaml
from kubernetes import client as k8s

from app.signing.keyfiles import encrypt_private_key, generate_ecdsa_key, public_key_pem
from tests.fixtures.kube import (
    KubeCluster,
    cosign_key_secret,
    create_namespace,
    free_port,
    grant_secret_read,
    label_namespace,
    register_validating_webhook,
    stop_process,
    wait_for_webhook,
    wait_until,
)
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import REPO_ROOT, KeyPair, cli_env, sign_image

KEYS = "e2e-keys"
APPS = "e2e-apps"
WEBHOOK_CONFIG = "sigwebhook-e2e"
WEBHOOK_NAME = f"{WEBHOOK_CONFIG}.sigwebhook.test"
NAMESPACE_LABEL = {"sigwebhook-e2e": "enforce"}
PASSWORD = "e2e-pass"


class WebhookProcess:
    """`sigwebhook serve --config FILE` as a real subprocess; output goes to `log`."""

    def __init__(self, config: Path, port: int, ca_file: Path, log: Path) -> None:
        self.config, self.port, self.ca_file, self.log = config, port, ca_file, log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--config", str(self.config)],
                env=cli_env(),
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._ready, 30, "sigwebhook serve", self.log)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise AssertionError(
                f"sigwebhook serve exited with {self._process.returncode}:\n{self.log.read_text()}"
            )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{self.port}/readyz", timeout=2, context=context
            ) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False


@dataclass
class E2EStack:
    cluster: KubeCluster
    webhook: WebhookProcess
    key_a: KeyPair
    key_b: KeyPair
    signed_by_a: str
    signed_by_b: str
    unsigned: str

    def rotate_key(self, public_pem: bytes) -> None:
        """Replace `cosign.pub` in the key Secret, as an operator rotating the key would."""
        k8s.CoreV1Api(self.cluster.admin).patch_namespaced_secret(
            "cosign", KEYS, {"stringData": {"cosign.pub": public_pem.decode()}}
        )


def write_cosign_key_pair(directory: Path, name: str) -> KeyPair:
    """A cosign-format key pair (encrypted `cosign.key`, `cosign.pub`), as `cosign generate-key-pair`."""
    key = generate_ecdsa_key()
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    private.write_bytes(encrypt_private_key(key, PASSWORD.encode()))
    public.write_bytes(public_key_pem(key))
    return KeyPair(name, private, public, PASSWORD)


def write_config(
    path: Path, port: int, cert: Path, key: Path, registry: TestRegistry, kubeconfig: Path
) -> Path:
    config = {
        "server": {"host": "127.0.0.1", "port": port, "tls": {"certFile": str(cert), "keyFile": str(key)}},
        "deadlineSeconds": 8,
        "skipNamespaces": ["kube-system"],
        "registries": {"insecure": [registry.host]},
        "kubernetes": {"kubeconfig": str(kubeconfig)},
        "policies": [
            {
                "name": "e2e",
                "images": [f"{registry.host}/e2e/**"],
                "keys": [{"secret": f"k8s://{KEYS}/cosign"}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def start_stack(cluster: KubeCluster, registry: TestRegistry) -> Iterator[E2EStack]:
    with TemporaryDirectory(prefix="sigwebhook-e2e-") as tmp:
        workdir = Path(tmp)
        key_a, key_b = write_cosign_key_pair(workdir, "a"), write_cosign_key_pair(workdir, "b")
        images = {}
        for name in ("signed-a", "signed-b", "unsigned"):
            push_image(registry, f"e2e/{name}", "1", content=name.encode())
            images[name] = f"{registry.host}/e2e/{name}:1"
        insecure = ["--insecure-registry", registry.host]
        sign_image(images["signed-a"], key_a, insecure)
        sign_image(images["signed-b"], key_b, insecure)

        admin = cluster.admin
        create_namespace(admin, KEYS)
        create_namespace(admin, APPS)
        label_namespace(admin, APPS, NAMESPACE_LABEL)
        secret = cosign_key_secret(
            KEYS, "cosign", key_a.public.read_bytes(), key_a.private.read_bytes(), PASSWORD.encode()
        )
        k8s.CoreV1Api(admin).create_namespaced_secret(KEYS, secret)
        grant_secret_read(admin, KEYS, ["cosign"])

        port = free_port()
        cert, key = cluster.issue_serving_cert(workdir / "tls")
        config = write_config(workdir / "config.yaml", port, cert, key, registry, cluster.webhook_kubeconfig)
        webhook = WebhookProcess(config, port, cluster.ca_file, workdir / "webhook.log")
        webhook.start()
        try:
            register_validating_webhook(
                admin,
                WEBHOOK_CONFIG,
                f"https://127.0.0.1:{port}/validate",
                cluster.ca.cert_pem.bytes(),
                NAMESPACE_LABEL,
            )
            wait_for_webhook(admin, APPS, images["unsigned"])
            yield E2EStack(
                cluster, webhook, key_a, key_b, images["signed-a"], images["signed-b"], images["unsigned"]
            )
        finally:
            webhook.stop()
            with contextlib.suppress(k8s.ApiException):
                k8s.AdmissionregistrationV1Api(admin).delete_validating_webhook_configuration(WEBHOOK_CONFIG)
