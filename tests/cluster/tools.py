"""What the one-node cluster lane drives, the way a user does: scripts/cluster.sh, kubectl, helm.

`NodeCluster` is a cluster started by `scripts/cluster.sh up` (stopped by `down`), with its kubectl
(v1.20.2, built with the node binaries), its kubeconfig and its registry. `Helm` runs the real helm
binary against it. `push_runnable_image` makes small images that run (the cluster's pause binary,
from its registry) and differ only by a label, so each has its own digest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from app.core.digests import Digest
from app.core.ports import OCI_MANIFEST
from tests.support.oci_layout import OCI_CONFIG
from tests.support.pushing import RawPusher
from tests.support.registry_server import TestRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "cluster.sh"
REGISTRY = "10.200.0.1:5000"  # the node address scripts/cluster.sh adds; pods and the node reach it
PAUSE = "pause:3.4"


def run(
    command: Sequence[str], env: dict[str, str] | None = None, timeout: float = 120, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class NodeCluster:
    """A running one-node cluster: its state directory, kubeconfig and binaries."""

    state: Path
    kubeconfig: Path
    bin_dir: Path

    def env(self) -> dict[str, str]:
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig), PATH=f"{self.bin_dir}:{os.environ['PATH']}")

    def kubectl(self, *args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run kubectl; never raises on a non-zero exit (refusals are what some tests expect)."""
        return run([str(self.bin_dir / "kubectl"), *args], self.env(), timeout, stdin)

    def kubectl_ok(self, *args: str, stdin: str = "", timeout: float = 120) -> str:
        done = self.kubectl(*args, stdin=stdin, timeout=timeout)
        if done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def get(self, *args: str) -> Any:
        """`kubectl get ARGS -o json`, parsed."""
        return json.loads(self.kubectl_ok("get", *args, "-o", "json"))

    def api(self) -> k8s.ApiClient:
        return k8s_config.new_client_from_config(config_file=str(self.kubeconfig))

    def log_tails(self, names: Sequence[str] = ("kube-apiserver", "kubelet", "containerd")) -> str:
        """The end of some daemon logs, for a failure message."""
        tails = []
        for name in names:
            log = self.state / "logs" / f"{name}.log"
            if log.exists():
                tails.append(
                    f"--- {name}.log\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                )
        return "\n".join(tails)


def cluster_script(state: Path, action: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`scripts/cluster.sh ACTION` for the state directory `state`; `up` waits for another cluster on
    the machine to go down (the caller waited already: this covers a race)."""
    env = dict(os.environ, SIGWEBHOOK_CLUSTER_DIR=str(state), SIGWEBHOOK_CLUSTER_WAIT="600")
    return run(["bash", str(CLUSTER_SCRIPT), action], env, timeout)


def wait_for_the_machine() -> None:
    """Before a cluster of the lane starts: wait while another one runs here (up to 30 minutes)."""
    wait_for(lambda: not machine_taken(), 1800, "the machine's other cluster going down", interval=5)


OWNER = Path("/run/sigwebhook-cluster")  # scripts/cluster.sh's claim on the machine


def machine_taken() -> bool:
    """A cluster of scripts/cluster.sh runs on this machine now (another engineer's lane, say); not
    one a killed run left behind (`up` takes that down itself)."""
    try:
        holder = Path((OWNER / "state").read_text().strip())
    except OSError:
        return OWNER.exists()  # being claimed
    for pid_file in (holder / "run").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            status = Path(f"/proc/{int(pid_file.read_text())}/stat").read_text()
            if status.split(")")[-1].split()[0] != "Z":
                return True
    return False


def started_cluster(state: Path, up_output: str) -> NodeCluster:
    """The cluster `scripts/cluster.sh up` started, from the export lines it prints last."""
    words = up_output.split()
    kubeconfig = next(w.split("=", 1)[1] for w in words if w.startswith("KUBECONFIG="))
    binaries = next(w.split("=", 1)[1].split(":")[0] for w in words if w.startswith("PATH="))
    return NodeCluster(state, Path(kubeconfig), Path(binaries))


# What scripts/cluster.sh changes on the machine while a cluster runs, and must put back (its header)
HOST_PATHS = ("/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/var/lib/cni", "/etc/cni",
              "/usr/libexec/kubernetes", "/run/containerd", "/var/lib/containerd", "/opt/containerd",
              "/run/containers", "/run/sigwebhook-cluster")  # fmt: skip
SYSCTLS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet", "vm.overcommit_memory", "kernel.panic",
           "kernel.panic_on_oops", "net.bridge.bridge-nf-call-iptables")  # fmt: skip


def machine_state() -> dict[str, str]:
    """Mounts, links, routes, loopback addresses, iptables and nft tables, sysctls, kubelet cgroups and
    the host paths the daemons create: compared before `up` and after `down`."""

    def out(*command: str) -> str:
        return run(command).stdout

    rules = out("iptables-save") + out("ip6tables-save")
    return {
        "mounts": Path("/proc/self/mounts").read_text(),
        "links": out("ip", "-br", "link"),
        "routes": out("ip", "route") + out("ip", "-6", "route"),
        "loopback": out("ip", "-br", "addr", "show", "lo"),
        "iptables": re.sub(
            r"\[\d+:\d+\]", "", "\n".join(r for r in rules.splitlines() if not r.startswith("#"))
        ),
        "nft": out("nft", "list", "tables"),
        "sysctls": out("sysctl", *SYSCTLS),
        "cgroups": " ".join(sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods"))),
        "paths": " ".join(p for p in HOST_PATHS if Path(p).exists()),
    }


class Helm:
    """The real helm binary pointed at the cluster, with its own config and cache directories."""

    def __init__(self, binary: Path, cluster: NodeCluster, home: Path) -> None:
        self.binary = binary
        self.env = dict(
            cluster.env(),
            HELM_CONFIG_HOME=str(home / "config"),
            HELM_CACHE_HOME=str(home / "cache"),
            HELM_DATA_HOME=str(home / "data"),
        )

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run([str(self.binary), *args], self.env, timeout)

    def ok(self, *args: str, timeout: float = 300) -> str:
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{done.stderr.strip()}")
        return done.stdout


def push_runnable_image(repository: str, tag: str, variant: str) -> Digest:
    """Push `REGISTRY/repository:tag`: the cluster's pause binary (it runs until SIGTERM) with the label
    `sigwebhook.test/variant=variant`, so each variant is a distinct image; return its digest."""
    with httpx.Client(base_url=f"http://{REGISTRY}", timeout=10) as registry:
        name, pause_tag = PAUSE.split(":")
        manifest = registry.get(f"/v2/{name}/manifests/{pause_tag}", headers={"Accept": OCI_MANIFEST}).json()
        config = registry.get(f"/v2/{name}/blobs/{manifest['config']['digest']}").json()
        layer = registry.get(f"/v2/{name}/blobs/{manifest['layers'][0]['digest']}").content
    config["config"]["Labels"] = {"sigwebhook.test/variant": variant}
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest["config"] = {
        "mediaType": OCI_CONFIG,
        "digest": str(Digest.of(config_bytes)),
        "size": len(config_bytes),
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    with RawPusher(TestRegistry(host=REGISTRY, storage=Path("/nonexistent"))) as pusher:
        pusher.put_blob(repository, layer)
        pusher.put_blob(repository, config_bytes)
        return pusher.put_manifest(repository, tag, manifest_bytes, OCI_MANIFEST)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy (returned); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:.0f}s")
        time.sleep(interval)
