"""Print the sample outputs of `sigwebhook audit log` and `sigwebhook audit scan` shown in README.md,
from real runs: not a test, and nothing here is part of the product.

It starts what the end-to-end tests start, through their helpers: Debian's docker-registry on
127.0.0.1, etcd + kube-apiserver 1.20, and `sigwebhook serve` as a subprocess registered with a
ValidatingWebhookConfiguration. Then, as a cluster would see it:

1. Pods are created in namespace `shop` while no webhook is registered (admitted unverified, as
   under `failurePolicy: Ignore` while the webhook was down); the kubelet's status is written for
   two of them (`imageID`), and a tag is moved after its pod started.
2. The webhook is registered for `prod`, `dev` and `legacy` (`legacy` is in `skipNamespaces`; the
   `audit` policy is in warn mode), pods are created there through the API server, and one malformed
   body is posted to `/validate` directly. The webhook's output (audit lines on stdout, its log on
   stderr, both into one file as `kubectl logs` shows them) is read back by `sigwebhook audit log`.
3. `sigwebhook audit scan` checks `shop` with the webhook's own config; then the old key is removed
   from the key Secret (a rotation) and the scan runs again.

Run `python3 scripts/audit_samples.py` from the repository root, with the venv's Python and the tools
the tests use (`bash scripts/test.sh` installs docker-registry, skopeo and etcd; the kube-apiserver
is `$SIGWEBHOOK_KUBE_APISERVER`, else the cached build, else built as for the tests). About a minute
once the tools are there; prints each command with its output and exit code. Registry ports,
digests, times and key fingerprints differ from run to run.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client as k8s

from tests.e2e.stack import WebhookProcess, write_cosign_key_pair
from tests.fixtures.kube import (
    KubeCluster,
    admission_error,
    create_namespace,
    free_port,
    grant_secret_read,
    label_namespace,
    pod,
    register_validating_webhook,
    running_cluster,
    wait_for_webhook,
    write_kubeconfig,
)
from tests.fixtures.signing import KeyPair, run_cli, sign_image
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry, start_registry

KEYS = "sigwebhook"  # the namespace of the key Secret, as the chart installs it
SECRET = "cosign-keys"
LABEL = {"sigwebhook": "enforce"}


@contextlib.contextmanager
def registry(directory: Path) -> Iterator[TestRegistry]:
    started = start_registry(directory)
    try:
        yield started
    finally:
        started.stop()


def push(
    registry: TestRegistry, repo: str, signer: KeyPair | None = None, content: str = ""
) -> tuple[str, str]:
    """Push a one-layer image to `repo:1`, sign it with `signer`; its name and digest."""
    digest = push_image(registry, repo, "1", content=(content or repo).encode())
    image = f"{registry.host}/{repo}:1"
    if signer is not None:
        sign_image(image, signer, ["--insecure-registry", registry.host])
    return image, str(digest)


def set_keys(admin: k8s.ApiClient, **entries: KeyPair) -> None:
    """The key Secret holds exactly `entries` (file name → public key)."""
    data = {name: pair.public.read_text() for name, pair in entries.items()}
    core = k8s.CoreV1Api(admin)
    secret = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name=SECRET), type="Opaque", string_data=data)
    try:
        core.replace_namespaced_secret(SECRET, KEYS, secret)
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespaced_secret(KEYS, secret)


def running(admin: k8s.ApiClient, namespace: str, name: str, image_id: str) -> None:
    """Write the status a kubelet would: the pod runs, its container `c0` from `image_id`."""
    status = {"phase": "Running", "startTime": "2026-01-05T08:00:00Z",
              "containerStatuses": [{"name": "c0", "image": "x", "imageID": image_id, "ready": True,
                                     "restartCount": 0, "state": {"running": {}}}]}  # fmt: skip
    k8s.CoreV1Api(admin).patch_namespaced_pod_status(name, namespace, {"status": status})


def show(workdir: Path, *args: str) -> None:
    """Run `sigwebhook ARGS` in `workdir` and print the command, its output and its exit code."""
    done = run_cli(*args, cwd=workdir)
    print(f"$ sigwebhook {' '.join(args)}")
    print(done.stdout, end="")
    if done.stderr:
        print(f"[stderr]\n{done.stderr}", end="")
    print(f"[exit {done.returncode}]\n", flush=True)


def post_malformed(url: str, ca_file: Path) -> None:
    """What a broken client might send: a body that is not JSON (answered 400, and audited)."""
    request = urllib.request.Request(url, data=b"{not json", headers={"Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=str(ca_file))
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=10, context=context).close()


def config(
    path: Path, cluster: KubeCluster, registry: TestRegistry, port: int, tls: tuple[Path, Path]
) -> None:
    keys = [{"secret": f"k8s://{KEYS}/{SECRET}"}]
    host = registry.host
    path.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": port, "tls": {"certFile": str(tls[0]), "keyFile": str(tls[1])}},
        "kubernetes": {"kubeconfig": str(cluster.webhook_kubeconfig)},
        "registries": {"insecure": [host]},
        "skipNamespaces": ["legacy", KEYS],
        "policies": [
            # `sigwebhook sign` writes no transparency-log entry: these policies do not require one
            {"name": "team", "images": [f"{host}/team/**", f"{host}/shop/**"], "keys": keys,
             "transparencyLog": "ignore"},
            {"name": "audit", "images": [f"{host}/audit/**"], "keys": keys, "mode": "warn",
             "transparencyLog": "ignore"},
        ],
    }, sort_keys=False))  # fmt: skip


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="sigwebhook-audit-samples-") as tmp,
        registry(Path(tmp) / "registry") as images_at,
        running_cluster() as cluster,
    ):
        workdir = Path(tmp)
        old, new = write_cosign_key_pair(workdir, "cosign"), write_cosign_key_pair(workdir, "new")
        admin = cluster.admin
        core = k8s.CoreV1Api(admin)
        for namespace in (KEYS, "shop", "prod", "dev", "legacy"):
            create_namespace(admin, namespace)
        set_keys(admin, **{"cosign.pub": old, "new.pub": new})
        grant_secret_read(admin, KEYS, [SECRET])

        # 1. What runs in `shop`, admitted while no webhook was registered.
        shop = {
            "old": push(images_at, "shop/old", old),
            "new": push(images_at, "shop/new", new),
            "unsigned": push(images_at, "shop/unsigned"),
            "moving": push(images_at, "shop/moving"),
        }
        names = {name: image for name, (image, _) in shop.items()} | {
            "unmatched": "other.example/tools/shell:1"
        }
        for name, image in names.items():
            core.create_namespaced_pod("shop", pod(f"pod-{name}", image))
        for name in ("old", "moving"):
            image, digest = shop[name]
            running(admin, "shop", f"pod-{name}", f"{image.rsplit(':', 1)[0]}@{digest}")
        push(images_at, "shop/moving", new, content="moved and signed")  # the tag moves on

        # 2. The webhook, registered for prod, dev and legacy.
        team_app, _ = push(images_at, "team/app", old)
        team_unsigned, _ = push(images_at, "team/unsigned")
        audit_unsigned, _ = push(images_at, "audit/unsigned")
        port = free_port()
        config(workdir / "config.yaml", cluster, images_at, port, cluster.issue_serving_cert(workdir / "tls"))
        webhook = WebhookProcess(workdir / "config.yaml", port, cluster.ca_file, workdir / "webhook.log")
        webhook.start()
        try:
            for namespace in ("prod", "dev", "legacy"):
                label_namespace(admin, namespace, LABEL)
            url = f"https://127.0.0.1:{port}/validate"
            register_validating_webhook(admin, "sigwebhook", url, cluster.ca.cert_pem.bytes(), LABEL)
            wait_for_webhook(admin, "dev", "other.example/probe:1")  # dry-run pods until it answers
            for namespace, name, image in (
                ("prod", "web", team_app),
                ("prod", "api", team_unsigned),
                ("dev", "shell", "other.example/tools/shell:1"),
                ("dev", "report", audit_unsigned),
                ("legacy", "batch", team_unsigned),
            ):
                admission_error(lambda: core.create_namespaced_pod(namespace, pod(name, image)))  # noqa: B023
            post_malformed(url, cluster.ca_file)
            time.sleep(0.5)  # the last lines reach the log
        finally:
            webhook.stop()
        show(workdir, "audit", "log", "webhook.log")

        # 3. The scan, before and after the old key is rotated out.
        write_kubeconfig(workdir / "kubeconfig", cluster.url, cluster.ca_file, "admin", cluster.admin_token)
        show(workdir, "audit", "scan", "--config", "config.yaml", "--kubeconfig", "kubeconfig", "-n", "shop")
        set_keys(admin, **{"new.pub": new})
        show(workdir, "audit", "scan", "--config", "config.yaml", "--kubeconfig", "kubeconfig", "-n", "shop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
