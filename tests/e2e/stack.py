"""The end-to-end stack: keys, signed images, RBAC, `sigwebhook serve` and its webhook registration.

Besides the key-signed images, a private Sigstore instance (`tests/support/sigstore`) signs images
keylessly (both cosign layouts) for a second policy that trusts one CI identity under the instance's
trusted root, named under `trustedRoots` in the webhook's config.

`start_stack(cluster, registry)` builds everything on top of a running API server and registry and
tears down what it started (the webhook process; the namespaces and the webhook configuration go
with the session's API server). `WebhookProcess` runs `python -m app serve --config FILE` and waits
for `/readyz` over HTTPS by polling.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import sys
import time
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
from tests.support.sigstore.images import push_signed
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore

KEYS = "e2e-keys"
APPS = "e2e-apps"
WEBHOOK_CONFIG = "sigwebhook-e2e"
WEBHOOK_NAME = f"{WEBHOOK_CONFIG}.sigwebhook.test"
NAMESPACE_LABEL = {"sigwebhook-e2e": "enforce"}
PASSWORD = "e2e-pass"
OTHER_WORKFLOW = WORKFLOW.replace("/acme/", "/other/")  # another repository's release workflow


class WebhookProcess:
    """`sigwebhook serve --config FILE` as a real subprocess; output goes to `log`."""

    def __init__(self, config: Path, port: int, ca_file: Path, log: Path) -> None:
        self.config, self.port, self.ca_file, self.log = config, port, ca_file, log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, attempts: int = 3) -> None:
        """Start and wait for `/readyz`. A restart on the same port can lose a race: while the port
        was free, any new outgoing connection on the machine may have taken it as its local port
        (EADDRINUSE). Such an early exit is retried; the log goes into the failure otherwise."""
        for attempt in range(1, attempts + 1):
            offset = self.log.stat().st_size if self.log.exists() else 0
            with self.log.open("ab") as out:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "app", "serve", "--config", str(self.config)],
                    env=cli_env(),
                    cwd=REPO_ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            wait_until(lambda: self._ready() or self._exited(), 30, "sigwebhook serve", self.log)
            if not self._exited():
                return
            output = self.log.read_bytes()[offset:].decode(errors="replace")
            if attempt == attempts or "address already in use" not in output.lower():
                raise AssertionError(f"sigwebhook serve exited with {self._process.returncode}:\n{output}")
            time.sleep(0.5)

    def ensure_running(self) -> None:
        if self._process is None or self._exited():
            self.start()

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def _exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def _ready(self) -> bool:
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
    private: str  # signed by key A, in the TLS + htpasswd registry: readable only with the pull Secret
    pull_config: str  # the pull Secret's good `.dockerconfigjson`
    keyless: dict[str, str]  # "right-v2", "right-v3" (WORKFLOW's) and "other" (OTHER_WORKFLOW's)

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


def pull_secret(name: str, docker_config: str) -> k8s.V1Secret:
    """A `kubernetes.io/dockerconfigjson` Secret, as `kubectl create secret docker-registry` makes."""
    return k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name=name, namespace=KEYS),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": docker_config},
    )


def write_config(
    path: Path,
    port: int,
    tls: tuple[Path, Path],
    plain: TestRegistry,
    private: TestRegistry,
    kubeconfig: Path,
    keyless_root: Path,
) -> Path:
    """The webhook's config (app/config): keys and pull credentials from Secrets only; the keyless
    policy's trusted root from a file."""
    config = {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "tls": {"certFile": str(tls[0]), "keyFile": str(tls[1])},
        },
        "deadlineSeconds": 8,
        "skipNamespaces": ["kube-system"],
        "registries": {
            "insecure": [plain.host],
            "caFiles": {private.host: str(private.ca_file)},
            "pullSecret": f"k8s://{KEYS}/regcred",
        },
        "kubernetes": {"kubeconfig": str(kubeconfig)},
        "trustedRoots": {"private": {"file": str(keyless_root)}},
        "policies": [
            {
                "name": "e2e",
                "images": [f"{plain.host}/e2e/**", f"{private.host}/e2e/**"],
                "keys": [{"secret": f"k8s://{KEYS}/cosign"}],
                "transparencyLog": "ignore",
            },
            {
                "name": "e2e-keyless",
                "images": [f"{plain.host}/e2e-keyless/**"],
                "keyless": [{"issuer": GITHUB, "subject": WORKFLOW, "trustedRoot": "private"}],
            },
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def push_and_sign(
    workdir: Path, plain: TestRegistry, private: TestRegistry, a: KeyPair, b: KeyPair
) -> dict[str, str]:
    """signed-a, signed-b and unsigned in the plain registry; private (signed by a) in the TLS one."""
    images = {}
    for name in ("signed-a", "signed-b", "unsigned"):
        push_image(plain, f"e2e/{name}", "1", content=name.encode())
        images[name] = f"{plain.host}/e2e/{name}:1"
    sign_image(images["signed-a"], a, ["--insecure-registry", plain.host])
    sign_image(images["signed-b"], b, ["--insecure-registry", plain.host])
    push_image(private, "e2e/private", "1", content=b"private")
    images["private"] = f"{private.host}/e2e/private:1"
    docker_config = workdir / "docker-config.json"
    docker_config.write_text(json.dumps(private.docker_config()))
    access = ["--ca-file", f"{private.host}={private.ca_file}", "--registry-config", str(docker_config)]
    sign_image(images["private"], a, access)
    return images


def push_keyless(workdir: Path, plain: TestRegistry) -> tuple[Path, dict[str, str]]:
    """The private instance's trusted root file, and images it signed keylessly (log entry, SCT):
    right-v2 and right-v3 for WORKFLOW, other for OTHER_WORKFLOW."""
    sigstore = PrivateSigstore(workdir / "sigstore")
    root = workdir / "private-trusted-root.json"
    root.write_bytes(sigstore.trusted_root())
    images = {}
    for name, layout, subject in (
        ("right-v2", "v2", WORKFLOW),
        ("right-v3", "v3", WORKFLOW),
        ("other", "v3", OTHER_WORKFLOW),
    ):
        signing = sigstore.keyless(subject=subject)
        images[name] = push_signed(plain, f"e2e-keyless/{name}", name.encode(), layout, sigstore, signing)
    return root, images


@contextlib.contextmanager
def start_stack(cluster: KubeCluster, plain: TestRegistry, private: TestRegistry) -> Iterator[E2EStack]:
    with TemporaryDirectory(prefix="sigwebhook-e2e-") as tmp:
        workdir = Path(tmp)
        key_a, key_b = write_cosign_key_pair(workdir, "a"), write_cosign_key_pair(workdir, "b")
        images = push_and_sign(workdir, plain, private, key_a, key_b)
        keyless_root, keyless = push_keyless(workdir, plain)

        admin = cluster.admin
        core = k8s.CoreV1Api(admin)
        create_namespace(admin, KEYS)
        create_namespace(admin, APPS)
        label_namespace(admin, APPS, NAMESPACE_LABEL)
        key_secret = cosign_key_secret(
            KEYS, "cosign", key_a.public.read_bytes(), key_a.private.read_bytes(), PASSWORD.encode()
        )
        core.create_namespaced_secret(KEYS, key_secret)
        pull_config = json.dumps(private.docker_config())
        core.create_namespaced_secret(KEYS, pull_secret("regcred", pull_config))
        grant_secret_read(admin, KEYS, ["cosign", "regcred"])

        port = free_port()
        tls = cluster.issue_serving_cert(workdir / "tls")
        config = write_config(
            workdir / "config.yaml", port, tls, plain, private, cluster.webhook_kubeconfig, keyless_root
        )
        webhook = WebhookProcess(config, port, cluster.ca_file, workdir / "webhook.log")
        webhook.start()
        try:
            url = f"https://127.0.0.1:{port}/validate"
            register_validating_webhook(
                admin, WEBHOOK_CONFIG, url, cluster.ca.cert_pem.bytes(), NAMESPACE_LABEL
            )
            wait_for_webhook(admin, APPS, images["unsigned"])
            yield E2EStack(
                cluster,
                webhook,
                key_a,
                key_b,
                images["signed-a"],
                images["signed-b"],
                images["unsigned"],
                images["private"],
                pull_config,
                keyless,
            )
        finally:
            webhook.stop()
            with contextlib.suppress(k8s.ApiException):
                k8s.AdmissionregistrationV1Api(admin).delete_validating_webhook_configuration(WEBHOOK_CONFIG)
