"""Fixtures of the one-node cluster lane: one cluster, one image and one release for the whole session.

- `node_cluster`: `scripts/cluster.sh up` in a temporary state directory; `down` at the end of the
  session whatever happened (also on SIGTERM, turned into KeyboardInterrupt so pytest tears down).
- `sigwebhook_image`: the project's image built by `scripts/build-image.sh` with buildah on the
  Debian base (CI cannot pull the official one), pushed to the cluster's registry and signed with
  `sigwebhook sign` and a key made by `sigwebhook generate-key-pair`.
- `release`: the chart installed as the README says (namespace, key Secret, `helm install` with the
  image by digest and the policies of `lane_values`), one replica (the chart's default is three, for a
  node drain; this cluster has one node), and on Kubernetes 1.20 the excluded namespaces labelled by
  name as docs/install.md asks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import CHART, helm_binary
from tests.cluster.tools import (
    REGISTRY,
    REPO_ROOT,
    Helm,
    NodeCluster,
    cluster_script,
    machine_state,
    push_runnable_image,
    run,
    started_cluster,
    wait_for_the_machine,
)
from tests.fixtures.signing import run_cli

PASSWORD = "lane-password"
NAMESPACE = "sigwebhook"
RELEASE = "sigwebhook"
KEY_SECRET = "cosign-keys"
APPS = "lane-apps"  # where the workloads go: not excluded, so every pod there is verified
DENIED = "denied the request"  # how the API server words a webhook's deny


@contextlib.contextmanager
def sigterm_tears_down() -> Iterator[None]:
    """While the cluster runs, SIGTERM (a CI timeout) ends the session like Ctrl-C, so `down` runs."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[NodeCluster]:
    if os.geteuid() != 0:
        pytest.fail("the one-node cluster lane needs root (mounts, iptables); -m 'not cluster' skips it")
    wait_for_the_machine()
    state = Path(tempfile.mkdtemp(prefix="sigwebhook-cluster-"))
    before = machine_state()
    with sigterm_tears_down():
        try:
            up = cluster_script(state, "up", timeout=3600)
            if up.returncode != 0:
                pytest.fail(f"scripts/cluster.sh up failed:\n{up.stderr[-5000:]}")
            yield started_cluster(state, up.stdout)
        finally:
            down = cluster_script(state, "down", timeout=300)
            if down.returncode != 0:
                pytest.fail(f"scripts/cluster.sh down failed:\n{down.stderr[-5000:]}")
            changed = {k: v for k, v in machine_state().items() if v != before[k]}
            assert not changed, f"scripts/cluster.sh down left the machine changed: {changed}"


@dataclass(frozen=True)
class Key:
    private: Path
    public: Path

    def sign(self, image: str) -> None:
        """`sigwebhook sign` of `image` (by digest), as a user signs."""
        done = run_cli(
            "sign", "--key", str(self.private), "--insecure-registry", REGISTRY, image,
            env={"COSIGN_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    """A cosign key pair from `sigwebhook generate-key-pair`."""
    directory = tmp_path_factory.mktemp("lane-key")
    done = run_cli(
        "generate-key-pair",
        "--output-key-prefix",
        str(directory / "cosign"),
        env={"COSIGN_PASSWORD": PASSWORD},
    )
    assert done.returncode == 0, done.stderr
    return Key(directory / "cosign.key", directory / "cosign.pub")


@pytest.fixture(scope="session")
def sigwebhook_image(node_cluster: NodeCluster, signing_key: Key) -> str:
    """REGISTRY/sigwebhook@sha256:…, built from the Dockerfile without Docker and signed."""
    built = run(
        ["bash", str(REPO_ROOT / "scripts" / "build-image.sh"), "--registry", REGISTRY, "--base", "debian",
         "--insecure", "--name", "sigwebhook", "--tag", "lane"],
        timeout=1800,
    )  # fmt: skip
    if built.returncode != 0:
        pytest.fail(f"scripts/build-image.sh failed:\n{built.stderr[-5000:]}")
    image = built.stdout.split()[-1]
    signing_key.sign(image)
    return image


def lane_values() -> dict[str, Any]:
    """The values a user writes for this cluster: its plain-HTTP registry, and one policy per kind of
    image the lane runs. `apps` pins pods only (the default), `pinned` pins workload templates too,
    `unpinned` never pins."""
    return {
        "replicaCount": 1,
        "webhook": {"namespaceSelector": {"nameLabelsApplied": True}},
        "config": {
            "registries": {"insecure": [REGISTRY]},
            "policies": [
                lane_policy("apps", f"{REGISTRY}/lane/apps/**", f"{REGISTRY}/sigwebhook"),
                lane_policy("pinned", f"{REGISTRY}/lane/pinned/**", pinDigest="all"),
                lane_policy("unpinned", f"{REGISTRY}/lane/unpinned/**", pinDigest="none"),
            ],
        },
    }


def lane_policy(name: str, *images: str, **fields: str) -> dict[str, Any]:
    """A policy trusting the key Secret. `sigwebhook sign` uploads nothing to a transparency log, so
    no log entry is required (as `cosign sign --tlog-upload=false` signatures need)."""
    keys = [{"secret": f"k8s://{NAMESPACE}/{KEY_SECRET}"}]
    return {"name": name, "images": list(images), "keys": keys, "transparencyLog": "ignore", **fields}


@dataclass
class Release:
    """The installed chart: how to reach it, and the values it was installed with."""

    cluster: NodeCluster
    helm: Helm
    image: str
    values_file: Path

    def install_args(self) -> list[str]:
        repository, digest = self.image.split("@")
        return [RELEASE, str(CHART), "-n", NAMESPACE, "--set", f"image.repository={repository}",
                "--set", f"image.digest={digest}", "-f", str(self.values_file)]  # fmt: skip


@pytest.fixture(scope="session")
def release(
    node_cluster: NodeCluster,
    sigwebhook_image: str,
    signing_key: Key,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    home = tmp_path_factory.mktemp("lane-helm")
    values = home / "values.yaml"
    values.write_text(yaml.safe_dump(lane_values()))
    installed = Release(node_cluster, Helm(helm_binary(), node_cluster, home), sigwebhook_image, values)
    kubectl = node_cluster.kubectl_ok
    kubectl("create", "namespace", NAMESPACE)
    # Kubernetes 1.20 does not label namespaces by name: docs/install.md asks for it in optOut mode
    for namespace in (NAMESPACE, "kube-system"):
        kubectl("label", "namespace", namespace, f"kubernetes.io/metadata.name={namespace}")
    kubectl(
        "-n",
        NAMESPACE,
        "create",
        "secret",
        "generic",
        KEY_SECRET,
        f"--from-file=cosign.pub={signing_key.public}",
    )
    done = installed.helm.run("install", *installed.install_args(), "--wait", "--timeout", "5m")
    if done.returncode != 0:
        pods = node_cluster.kubectl("-n", NAMESPACE, "get", "pods,jobs", "-o", "wide").stdout
        pytest.fail(f"helm install failed:\n{done.stderr}\n{pods}\n{node_cluster.log_tails(('kubelet',))}")
    yield installed
    installed.helm.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "2m")


@pytest.fixture(scope="session")
def apps(release: Release) -> NodeCluster:
    """The cluster, with the namespace `APPS` created."""
    release.cluster.kubectl_ok("create", "namespace", APPS)
    return release.cluster


@pytest.fixture(scope="session")
def images(release: Release, signing_key: Key) -> dict[str, tuple[str, str]]:
    """`signed` and `unsigned`: (image by tag, its digest), under the `apps` policy."""
    signed = push_runnable_image("lane/apps/app", "1.0", "signed")
    signing_key.sign(f"{REGISTRY}/lane/apps/app@{signed}")
    unsigned = push_runnable_image("lane/apps/unsigned", "1.0", "unsigned")
    return {
        "signed": (f"{REGISTRY}/lane/apps/app:1.0", str(signed)),
        "unsigned": (f"{REGISTRY}/lane/apps/unsigned:1.0", str(unsigned)),
    }
