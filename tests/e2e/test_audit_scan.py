"""`sigwebhook audit scan` against a real kube-apiserver and a real registry.

Pods are created while no webhook is registered (as when the webhook was down under `failurePolicy:
Ignore`, or before a policy existed). Their status is then written the way the kubelet writes it
(`pods/status`, with each container's `imageID`), since no kubelet runs here. The scan, run by the
real CLI in a subprocess with a user that may only list pods and read the key Secret, must find
exactly the pods the policy denies, with the right reasons; after a key rotation (the old key
removed from the Secret) also the pods signed only by the old key; and a container that runs
another digest than its tag resolves to now (the tag moved after it started).
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from tests.fixtures.kube import (
    WEBHOOK_USER,
    KubeCluster,
    create_namespace,
    grant_secret_read,
    pod,
    write_kubeconfig,
)
from tests.fixtures.signing import KeyPair, run_cli, sign_image
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry

pytestmark = pytest.mark.e2e

OLD, NEW = "ecdsa-p256", "ecdsa-p384"


@dataclass
class Cluster:
    admin: k8s.ApiClient
    apps: str  # namespace of the pods
    keys: str  # namespace of the key Secret
    config: Path
    kubeconfig: Path
    images: dict[str, str]
    digests: dict[str, str]

    def run_scan(self, *options: str) -> subprocess.CompletedProcess[str]:
        """`sigwebhook audit scan` of the apps namespace with this config and kubeconfig, and `options`."""
        done = run_cli("audit", "scan", "--config", str(self.config), "--kubeconfig", str(self.kubeconfig),
                       "-n", self.apps, *options)  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def scan(self, *options: str) -> tuple[int, dict[str, Any], str]:
        done = self.run_scan("-o", "json", *options)
        return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr

    def set_keys(self, **entries: KeyPair) -> None:
        data = {name: pair.public.read_text() for name, pair in entries.items()}
        secret = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="cosign"), type="Opaque", string_data=data)
        core = k8s.CoreV1Api(self.admin)
        try:
            core.replace_namespaced_secret("cosign", self.keys, secret)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            core.create_namespaced_secret(self.keys, secret)

    def running(self, name: str, image_id: str) -> None:
        """Write the status a kubelet would: the pod runs, its container `c0` from `image_id`."""
        status = {"phase": "Running", "startTime": "2020-01-01T00:00:00Z",
                  "containerStatuses": [{"name": "c0", "image": "x", "imageID": image_id, "ready": True,
                                         "restartCount": 0, "state": {"running": {}}}]}  # fmt: skip
        k8s.CoreV1Api(self.admin).patch_namespaced_pod_status(name, self.apps, {"status": status})


@pytest.fixture
def cluster(
    kube_cluster: KubeCluster,
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> Cluster:
    suffix = uuid.uuid4().hex[:8]
    apps, keys = f"scan-apps-{suffix}", f"scan-keys-{suffix}"
    admin = kube_cluster.admin
    for namespace in (apps, keys):
        create_namespace(admin, namespace)
    # The scan's user: list pods everywhere, read the one key Secret (what the chart's CronJob gets).
    grant_secret_read(admin, keys, ["cosign"])
    rbac = k8s.RbacAuthorizationV1Api(admin)
    role = f"scan-list-pods-{suffix}"
    rbac.create_cluster_role(k8s.V1ClusterRole(metadata=k8s.V1ObjectMeta(name=role), rules=[
        k8s.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])]))  # fmt: skip
    rbac.create_cluster_role_binding(k8s.V1ClusterRoleBinding(
        metadata=k8s.V1ObjectMeta(name=role),
        role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
        subjects=[k8s.RbacV1Subject(kind="User", name=WEBHOOK_USER, api_group="rbac.authorization.k8s.io")]))  # fmt: skip

    repo = unique_repo("scan")
    images, digests = {}, {}
    access = ["--insecure-registry", plain_registry.host]
    for name, signer in (("old", OLD), ("new", NEW), ("unsigned", None), ("moving", None)):
        digests[name] = str(
            push_image(plain_registry, f"{repo}/{name}", "1", content=f"{repo}/{name}".encode())
        )
        images[name] = f"{plain_registry.host}/{repo}/{name}:1"
        if signer is not None:
            sign_image(images[name], key_pairs[signer], access)
    images["unmatched"] = "other.invalid/tools/shell:1"
    config = {
        "server": {"tls": {"selfSignedDir": str(tmp_path / "tls")}},
        "registries": {"insecure": [plain_registry.host]},
        "skipNamespaces": [keys],
        "policies": [{"name": "team", "images": [f"{plain_registry.host}/{repo}/**"],
                      "keys": [{"secret": f"k8s://{keys}/cosign"}],
                      "transparencyLog": "ignore"}],
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    kubeconfig = write_kubeconfig(
        tmp_path / "scan.kubeconfig",
        kube_cluster.url,
        kube_cluster.ca_file,
        WEBHOOK_USER,
        kube_cluster.webhook_token,
    )
    found = Cluster(admin, apps, keys, path, kubeconfig, images, digests)
    found.set_keys(**{"cosign.pub": key_pairs[OLD], "new.pub": key_pairs[NEW]})
    core = k8s.CoreV1Api(admin)
    for name in ("old", "new", "unsigned", "unmatched", "moving"):  # no webhook registered: all admitted
        core.create_namespaced_pod(apps, pod(f"pod-{name}", images[name]))
    found.running("pod-old", f"docker-pullable://{images['old'].rsplit(':', 1)[0]}@{digests['old']}")
    # The tag moves after pod-moving started: it runs the unsigned first image; the tag now names a
    # signed one.
    found.running("pod-moving", f"{images['moving'].rsplit(':', 1)[0]}@{digests['moving']}")
    digests["moved"] = str(push_image(plain_registry, f"{repo}/moving", "1", content=b"moved and signed"))
    sign_image(images["moving"], key_pairs[NEW], access)
    return found


def _findings(report: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(f["finding"], f["name"], f["reason_class"]) for f in report["findings"]}


def test_the_scan_finds_exactly_the_pods_the_policy_denies_and_after_a_key_rotation_the_old_keys_pods(
    cluster: Cluster, key_pairs: dict[str, KeyPair]
) -> None:
    code, report, _ = cluster.scan()
    assert code == 1
    assert _findings(report) == {
        ("denied", "pod-unsigned", "unsigned"),
        ("denied", "pod-unmatched", "unmatched"),
        ("drift", "pod-moving", "unsigned"),
    }
    by_name = {t["name"]: t for t in report["targets"]}
    assert {n: t["status"] for n, t in by_name.items()} == {
        "pod-old": "allowed", "pod-new": "allowed", "pod-unsigned": "denied", "pod-unmatched": "denied",
        "pod-moving": "allowed",
    }  # fmt: skip
    unsigned = by_name["pod-unsigned"]["containers"][0]
    assert unsigned["reason"] == 'no signature verified by the keys of policy "team" (no signatures found)'
    assert unsigned["policies"] == ["team"]
    old = by_name["pod-old"]["containers"][0]
    assert old["running_digest"] == old["verified_digest"] == cluster.digests["old"]
    assert [s["key"] for s in old["signatures"]] == [f"k8s://{cluster.keys}/cosign/cosign.pub"]
    moving = by_name["pod-moving"]["containers"][0]
    assert (moving["verified_digest"], moving["running_digest"]) == (
        cluster.digests["moved"],
        cluster.digests["moving"],
    )
    assert moving["running_verdict"] == "denied"
    (drift,) = [f for f in report["findings"] if f["finding"] == "drift"]
    assert (
        drift["running_reason"] == 'no signature verified by the keys of policy "team" (no signatures found)'
    )
    assert report["summary"] | {"images": 0} == {
        "pods": 5, "workloads": 0, "finished_pods_left_out": 0, "images": 0, "denied": 2, "would-deny": 0,
        "skipped": 0, "allowed": 3, "drift": 1,
    }  # fmt: skip

    cluster.set_keys(**{"new.pub": key_pairs[NEW]})  # the old key is rotated out
    code, report, _ = cluster.scan()
    assert code == 1
    assert _findings(report) == {
        ("denied", "pod-old", "invalid-signature"),
        ("denied", "pod-unsigned", "unsigned"),
        ("denied", "pod-unmatched", "unmatched"),
        ("drift", "pod-moving", "unsigned"),
    }
    old = next(t for t in report["targets"] if t["name"] == "pod-old")["containers"][0]
    assert old["reason"].startswith(
        'no signature verified by the keys of policy "team" (1 signature(s) found: '
    )


def test_workload_templates_sarif_and_text_reports(cluster: Cluster, kube_cluster: KubeCluster) -> None:
    k8s.AppsV1Api(kube_cluster.admin).create_namespaced_deployment(cluster.apps, k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="web"),
        spec=k8s.V1DeploymentSpec(
            selector=k8s.V1LabelSelector(match_labels={"app": "web"}),
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={"app": "web"}),
                                           spec=pod("x", cluster.images["unsigned"]).spec))))  # fmt: skip
    code, _, stderr = cluster.scan("--workloads")
    assert (
        code == 1 and "cannot list deployments" in stderr and "HTTP 403" in stderr
    )  # its RBAC has pods only
    admin = write_kubeconfig(cluster.config.parent / "admin.kubeconfig", kube_cluster.url, kube_cluster.ca_file,
                             "admin", kube_cluster.admin_token)  # fmt: skip
    cluster.kubeconfig = admin
    code, report, _ = cluster.scan("--workloads")
    assert ("denied", "web", "unsigned") in _findings(report) and report["summary"]["workloads"] == 1
    done = cluster.run_scan("-o", "sarif")
    sarif = json.loads(done.stdout)
    results = sarif["runs"][0]["results"]
    assert sarif["version"] == "2.1.0" and done.returncode == 1
    assert {(r["ruleId"], r["level"]) for r in results} == {("denied", "error"), ("drift", "error")}
    text = cluster.run_scan()
    assert "Would be DENIED now (2)" in text.stdout and "pod-unsigned" in text.stdout
    assert "Running digest differs from what the image resolves to now (1)" in text.stdout
    drift_row = next(line for line in text.stdout.splitlines() if "Pod pod-moving" in line)
    assert (
        f"{cluster.digests['moving'][:19]}…" in drift_row and f"{cluster.digests['moved'][:19]}…" in drift_row
    )
    assert drift_row.endswith(
        'denied: no signature verified by the keys of policy "team" (no signatures found)'
    )
    metrics = cluster.run_scan("-o", "prometheus")
    assert (
        f'sigwebhook_audit_denied_pods{{namespace="{cluster.apps}",reason="unsigned"}} 1.0' in metrics.stdout
    )
    assert (
        f'sigwebhook_audit_denied_pods{{namespace="{cluster.apps}",reason="unmatched"}} 1.0' in metrics.stdout
    )
    assert f'sigwebhook_audit_drifted_containers{{namespace="{cluster.apps}"}} 1.0' in metrics.stdout


def test_the_gauges_are_pushed_to_a_pushgateway(cluster: Cluster) -> None:
    received: list[tuple[str, str, bytes]] = []

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # what a Pushgateway takes: PUT /metrics/job/NAME, text format
            received.append((self.command, self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, report, _ = cluster.scan("--pushgateway", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
    assert code == 1 and report["summary"]["denied"] == 2
    ((method, path, body),) = received
    assert (method, path) == ("PUT", "/metrics/job/sigwebhook-audit-scan")
    assert (
        f'sigwebhook_audit_denied_pods{{namespace="{cluster.apps}",reason="unsigned"}} 1.0' in body.decode()
    )
    code, _, stderr = cluster.scan("--pushgateway", "http://127.0.0.1:9/")
    assert code == 1 and "cannot push the metrics to http://127.0.0.1:9/" in stderr


def test_since_leaves_out_pods_started_before_it_and_nothing_denied_exits_0(cluster: Cluster) -> None:
    code, report, _ = cluster.scan("--since", "2h")
    # pod-old and pod-moving started in 2020 (their status says so); the others were only just created
    assert {t["name"] for t in report["targets"]} == {"pod-new", "pod-unsigned", "pod-unmatched"}
    assert code == 1
    code, report, _ = cluster.scan("--exclude-namespace", cluster.apps)
    assert (code, report["targets"], report["findings"]) == (0, [], [])
