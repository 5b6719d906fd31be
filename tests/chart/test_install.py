"""`helm install` / `upgrade` / `uninstall` of the chart against the real kube-apiserver of the e2e lane.

No kubelet or controller-manager runs there: Deployments make no pods and Jobs never run. So:
- a plain install must fail at the bounded readiness gate, with every release object accepted by
  the API server and no webhook configuration registered (a failed install blocks nothing);
- to see the success path, the test plays the Job controller and marks the gate Job complete, as a
  real cluster would once the webhook answers; only then does the webhook configuration appear;
- `helm uninstall` must leave no webhook configuration (validating or mutating) behind, whether one
  was registered or not, and an upgrade that turns the mutating webhook off must unregister it.
The release verifies only namespaces carrying a label no other test uses (opt-in mode), so that
while registered it intercepts nothing else in the shared API server.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.chart.tools import CHART
from tests.fixtures.kube import ADMIN_USER, create_namespace, write_kubeconfig

pytestmark = [pytest.mark.helm, pytest.mark.e2e]

OPT_IN = [
    "--set",
    "webhook.namespaceSelector.mode=optIn",
    "--set",
    "webhook.namespaceSelector.labelKey=sigwebhook-chart-e2e/verify",
    "--set",
    "webhook.registration.waitSeconds=10",
]  # on the v1.20 test API server, optIn needs no kubernetes.io/metadata.name labels


class Helm:
    """The real helm binary pointed at the test API server, with its own config and cache dirs."""

    def __init__(self, binary: Path, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = dict(
            os.environ,
            KUBECONFIG=str(kubeconfig),
            HELM_CONFIG_HOME=str(home / "config"),
            HELM_CACHE_HOME=str(home / "cache"),
            HELM_DATA_HOME=str(home / "data"),
        )

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture(scope="module", params=["helm4", "helm3"])
def cluster_helm(kube_cluster, helm, helm3, tmp_path_factory, request) -> Helm:
    """Each test runs with Helm 4 and with Helm 3 (the hooks must behave the same in both)."""
    home = tmp_path_factory.mktemp(f"{request.param}-home")
    kubeconfig = write_kubeconfig(
        home / "admin.kubeconfig",
        kube_cluster.url,
        kube_cluster.ca_file,
        ADMIN_USER,
        kube_cluster.admin_token,
    )
    return Helm(helm if request.param == "helm4" else helm3, kubeconfig, home)


@pytest.fixture
def release_namespace(kube_admin, request) -> Iterator[str]:
    helm_version = "h3" if "helm3" in request.node.name else "h4"
    name = f"chart-e2e-{request.node.name.split('_')[1]}-{helm_version}-{os.getpid() % 10000}"
    create_namespace(kube_admin, name)
    yield name


def webhook_configuration(admin: k8s.ApiClient, name: str) -> k8s.V1ValidatingWebhookConfiguration | None:
    try:
        return k8s.AdmissionregistrationV1Api(admin).read_validating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def mutating_configuration(admin: k8s.ApiClient, name: str) -> k8s.V1MutatingWebhookConfiguration | None:
    try:
        return k8s.AdmissionregistrationV1Api(admin).read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def run_with_gate(cluster_helm: Helm, admin: k8s.ApiClient, namespace: str, gate: str, *args: str) -> None:
    """helm install/upgrade while playing the Job controller for the readiness gate; must succeed."""
    process = cluster_helm.start(*args)
    try:
        complete_job_when_created(admin, namespace, gate)
        _, stderr = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 0, stderr


def complete_job_when_created(admin: k8s.ApiClient, namespace: str, name: str, timeout: float = 60) -> None:
    """Play the Job controller: wait for the gate Job and mark it succeeded."""
    batch = k8s.BatchV1Api(admin)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            batch.read_namespaced_job(name, namespace)
            break
        except ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(0.2)
    else:
        pytest.fail(f"helm never created the readiness gate Job {namespace}/{name}")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "status": {
            "conditions": [
                {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
            ],
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
        }
    }
    batch.patch_namespaced_job_status(name, namespace, status)


def release_objects(admin: k8s.ApiClient, namespace: str, release: str) -> dict[str, bool]:
    """Which of the chart's release objects exist in the API server."""
    full = f"{release}-sigwebhook"
    core, apps, rbac = k8s.CoreV1Api(admin), k8s.AppsV1Api(admin), k8s.RbacAuthorizationV1Api(admin)
    reads = {
        "Deployment": lambda: apps.read_namespaced_deployment(full, namespace),
        "Service": lambda: core.read_namespaced_service(full, namespace),
        "ServiceAccount": lambda: core.read_namespaced_service_account(full, namespace),
        "ConfigMap": lambda: core.read_namespaced_config_map(f"{full}-config", namespace),
        "Secret": lambda: core.read_namespaced_secret(f"{full}-tls", namespace),
        "Role": lambda: rbac.read_namespaced_role(f"{full}-{namespace}-read-keys", namespace),
        "RoleBinding": lambda: rbac.read_namespaced_role_binding(f"{full}-{namespace}-read-keys", namespace),
    }
    found = {}
    for kind, read in reads.items():
        try:
            read()
            found[kind] = True
        except ApiException as exc:
            if exc.status != 404:
                raise
            found[kind] = False
    return found


def test_install_without_ready_pods_fails_at_the_bounded_gate_and_registers_nothing(
    cluster_helm, kube_admin, release_namespace
):
    release = "gate"
    started = time.monotonic()
    done = cluster_helm.run(
        "install", release, str(CHART), "-n", release_namespace, "--timeout", "12s", *OPT_IN, timeout=90
    )
    assert done.returncode != 0, done.stdout
    assert time.monotonic() - started < 60, "the gate must be bounded"
    assert "post-install" in done.stderr, done.stderr
    # The API server accepted every release object (the PDB included: policy/v1beta1 on 1.20)...
    assert all(release_objects(kube_admin, release_namespace, release).values())
    pdbs = k8s.CustomObjectsApi(kube_admin).list_namespaced_custom_object(
        "policy", "v1beta1", release_namespace, "poddisruptionbudgets"
    )
    assert [p["metadata"]["name"] for p in pdbs["items"]] == [f"{release}-sigwebhook"]
    # ...and nothing intercepts pods: neither webhook configuration was ever created.
    assert webhook_configuration(kube_admin, f"{release}-sigwebhook-{release_namespace}") is None
    assert mutating_configuration(kube_admin, f"{release}-sigwebhook-{release_namespace}") is None

    done = cluster_helm.run("uninstall", release, "-n", release_namespace, "--timeout", "60s")
    assert done.returncode == 0, done.stderr
    assert not any(release_objects(kube_admin, release_namespace, release).values())
    assert webhook_configuration(kube_admin, f"{release}-sigwebhook-{release_namespace}") is None
    assert mutating_configuration(kube_admin, f"{release}-sigwebhook-{release_namespace}") is None


def test_webhook_is_registered_after_the_gate_kept_across_upgrades_and_removed_on_uninstall(
    cluster_helm, kube_admin, release_namespace
):
    release = "full"
    name = f"{release}-sigwebhook"
    gate = f"{name}-wait-ready"
    cluster_name = f"{name}-{release_namespace}"  # cluster-scoped objects carry the release namespace
    # Mutating webhook on (the default) and the pods' own pull credentials on: the API server must
    # accept the MutatingWebhookConfiguration, the workload rules and the ClusterRole(Binding) too.
    extra = ["--set", "config.registries.podPullSecrets=true"]
    run_with_gate(
        cluster_helm, kube_admin, release_namespace, gate,
        "install", release, str(CHART), "-n", release_namespace, "--timeout", "60s", *OPT_IN, *extra,
    )  # fmt: skip

    vwc = webhook_configuration(kube_admin, cluster_name)
    assert vwc is not None, "the webhook configuration must exist once the gate passed"
    hook = vwc.webhooks[0]
    secret = k8s.CoreV1Api(kube_admin).read_namespaced_secret(f"{name}-tls", release_namespace)
    ca_bundle = hook.client_config.ca_bundle
    assert ca_bundle == secret.data["ca.crt"]
    assert hook.client_config.service.name == name
    assert hook.timeout_seconds == 10
    assert hook.failure_policy == "Fail"
    assert {r for rule in hook.rules for r in rule.resources} >= {"pods", "deployments", "cronjobs"}
    mwc = mutating_configuration(kube_admin, cluster_name)
    assert mwc is not None, "the mutating webhook is on by default"
    pin = mwc.webhooks[0]
    assert pin.client_config.service.path == "/mutate"
    assert pin.client_config.ca_bundle == ca_bundle
    assert pin.reinvocation_policy == "IfNeeded"
    assert pin.namespace_selector == hook.namespace_selector
    rbac = k8s.RbacAuthorizationV1Api(kube_admin)
    assert rbac.read_cluster_role(f"{cluster_name}-pod-pull-secrets").rules[0].verbs == ["get"]
    assert rbac.read_cluster_role_binding(f"{cluster_name}-pod-pull-secrets").subjects[0].name == name

    run_with_gate(
        cluster_helm, kube_admin, release_namespace, gate,
        "upgrade", release, str(CHART), "-n", release_namespace, "--timeout", "60s", *OPT_IN, *extra,
        "--set", "webhook.timeoutSeconds=12",
    )  # fmt: skip
    kept = k8s.CoreV1Api(kube_admin).read_namespaced_secret(f"{name}-tls", release_namespace)
    assert kept.data == secret.data, "the generated CA and certificate must survive an upgrade"
    upgraded = webhook_configuration(kube_admin, cluster_name)
    assert upgraded is not None and upgraded.webhooks[0].timeout_seconds == 12
    assert upgraded.webhooks[0].client_config.ca_bundle == ca_bundle
    upgraded_pin = mutating_configuration(kube_admin, cluster_name)
    assert upgraded_pin is not None and upgraded_pin.webhooks[0].timeout_seconds == 12

    done = cluster_helm.run("uninstall", release, "-n", release_namespace, "--timeout", "60s")
    assert done.returncode == 0, done.stderr
    assert webhook_configuration(kube_admin, cluster_name) is None, (
        "uninstall left the webhook configuration behind"
    )
    assert mutating_configuration(kube_admin, cluster_name) is None, (
        "uninstall left the mutating webhook behind"
    )
    assert not any(release_objects(kube_admin, release_namespace, release).values())
    with pytest.raises(ApiException) as gone:
        rbac.read_cluster_role(f"{cluster_name}-pod-pull-secrets")
    assert gone.value.status == 404


def test_upgrade_that_turns_the_mutating_webhook_off_unregisters_it(
    cluster_helm, kube_admin, release_namespace
):
    release = "toggle"
    name = f"{release}-sigwebhook"
    gate = f"{name}-wait-ready"
    cluster_name = f"{name}-{release_namespace}"
    install = ["install", release, str(CHART), "-n", release_namespace, "--timeout", "60s", *OPT_IN]
    run_with_gate(cluster_helm, kube_admin, release_namespace, gate, *install)
    assert mutating_configuration(kube_admin, cluster_name) is not None

    off = ["--set", "mutating.enabled=false"]
    upgrade = ["upgrade", release, str(CHART), "-n", release_namespace, "--timeout", "60s", *OPT_IN, *off]
    run_with_gate(cluster_helm, kube_admin, release_namespace, gate, *upgrade)
    assert mutating_configuration(kube_admin, cluster_name) is None, (
        "a disabled mutating webhook stayed registered"
    )
    assert webhook_configuration(kube_admin, cluster_name) is not None, "validation must stay registered"

    done = cluster_helm.run("uninstall", release, "-n", release_namespace, "--timeout", "60s")
    assert done.returncode == 0, done.stderr
    assert webhook_configuration(kube_admin, cluster_name) is None
    assert mutating_configuration(kube_admin, cluster_name) is None


@pytest.fixture(scope="module")
def cert_manager_kinds(kube_admin) -> None:
    """cert-manager's Certificate and Issuer kinds, schema-less (no cert-manager runs here): enough for
    Helm to map the chart's objects when it renders against the API server."""
    extensions = k8s.ApiextensionsV1Api(kube_admin)
    for kind in ("Certificate", "Issuer"):
        plural = kind.lower() + "s"
        definition = k8s.V1CustomResourceDefinition(
            metadata=k8s.V1ObjectMeta(name=f"{plural}.cert-manager.io"),
            spec=k8s.V1CustomResourceDefinitionSpec(
                group="cert-manager.io",
                scope="Namespaced",
                names=k8s.V1CustomResourceDefinitionNames(kind=kind, plural=plural, singular=kind.lower()),
                versions=[
                    k8s.V1CustomResourceDefinitionVersion(
                        name="v1",
                        served=True,
                        storage=True,
                        schema=k8s.V1CustomResourceValidation(
                            open_apiv3_schema=k8s.V1JSONSchemaProps(
                                type="object", x_kubernetes_preserve_unknown_fields=True
                            )
                        ),
                    )
                ],
            ),
        )
        try:
            extensions.create_custom_resource_definition(definition)
        except ApiException as exc:
            if exc.status != 409:
                raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the kinds are served a moment after they are created
        groups = k8s.ApisApi(kube_admin).get_api_versions().groups
        if any(g.name == "cert-manager.io" for g in groups):
            return
        time.sleep(0.2)
    pytest.fail("the cert-manager kinds were never served")


@pytest.mark.usefixtures("cert_manager_kinds")
def test_cert_manager_mode_writes_the_issued_ca_into_the_re_registered_configuration(
    cluster_helm, kube_admin, release_namespace
):
    # Rendered against the API server (lookup works there): once cert-manager has issued the serving
    # Secret, the configuration the upgrade hook re-creates carries its ca.crt from the first moment.
    release = "cm"
    ca = issue_ca_bundle()
    args = [
        "template",
        release,
        str(CHART),
        "-n",
        release_namespace,
        "--set",
        "tls.mode=certManager",
        *OPT_IN,
    ]
    before = cluster_helm.run(*args, "--dry-run=server")
    assert before.returncode == 0, before.stderr
    first = [
        w
        for d in yaml.safe_load_all(before.stdout)
        if d and d["kind"].endswith("WebhookConfiguration")
        for w in d["webhooks"]
    ]
    assert first and all(
        "caBundle" not in w["clientConfig"] for w in first
    )  # first install: the cainjector sets it
    k8s.CoreV1Api(kube_admin).create_namespaced_secret(
        release_namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=f"{release}-sigwebhook-tls"),
            type="kubernetes.io/tls",
            data={"ca.crt": ca, "tls.crt": ca, "tls.key": base64.b64encode(b"unused").decode()},
        ),
    )
    after = cluster_helm.run(*args, "--dry-run=server")
    assert after.returncode == 0, after.stderr
    configurations = [
        d
        for d in yaml.safe_load_all(after.stdout)
        if d
        and d["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
        and d["webhooks"]
    ]
    assert len(configurations) == 4  # each kind: the registered one and its upgrade handover copy
    for configuration in configurations:
        assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert [w["clientConfig"]["caBundle"] for w in configuration["webhooks"]] == [ca]


def issue_ca_bundle() -> str:
    """A CA certificate, base64 PEM, as cert-manager writes `ca.crt`."""
    import trustme

    return base64.b64encode(trustme.CA().cert_pem.bytes()).decode()


def test_on_kubernetes_1_20_the_chart_refuses_to_install_until_the_name_labels_are_applied(
    cluster_helm, release_namespace
):
    done = cluster_helm.run("install", "old", str(CHART), "-n", release_namespace, "--dry-run=server")
    assert done.returncode != 0
    assert "kubernetes.io/metadata.name" in done.stderr and "nameLabelsApplied=true" in done.stderr, (
        done.stderr
    )
    # optIn sends no unlabelled namespace, so it needs no name labels
    opt_in = ["--set", "webhook.namespaceSelector.mode=optIn"]
    done = cluster_helm.run(
        "install", "old", str(CHART), "-n", release_namespace, "--dry-run=server", *opt_in
    )
    assert done.returncode == 0, done.stderr


def legacy_configuration(name: str, service_namespace: str) -> k8s.V1ValidatingWebhookConfiguration:
    """What an earlier chart version registered: named after the release's full name alone. Its
    selector matches no namespace, so it intercepts nothing in the shared API server."""
    return k8s.V1ValidatingWebhookConfiguration(
        metadata=k8s.V1ObjectMeta(name=name),
        webhooks=[
            k8s.V1ValidatingWebhook(
                name=f"{name}.{service_namespace}.sigwebhook.dev",
                admission_review_versions=["v1"],
                side_effects="None",
                client_config=k8s.AdmissionregistrationV1WebhookClientConfig(
                    service=k8s.AdmissionregistrationV1ServiceReference(
                        name=name, namespace=service_namespace, path="/validate"
                    )
                ),
                namespace_selector=k8s.V1LabelSelector(match_labels={"sigwebhook-chart-e2e/never": "x"}),
                rules=[
                    k8s.V1RuleWithOperations(
                        api_groups=[""], api_versions=["v1"], operations=["CREATE"], resources=["pods"]
                    )
                ],
            )
        ],
    )


def test_an_upgrade_removes_the_configuration_an_older_chart_registered_for_this_release_only(
    cluster_helm, kube_admin, release_namespace
):
    release = "legacy"
    name = f"{release}-sigwebhook"
    gate = f"{name}-wait-ready"
    admission = k8s.AdmissionregistrationV1Api(kube_admin)
    install = ["install", release, str(CHART), "-n", release_namespace, "--timeout", "60s", *OPT_IN]
    upgrade = ["upgrade", release, str(CHART), "-n", release_namespace, "--timeout", "60s", *OPT_IN]
    run_with_gate(cluster_helm, kube_admin, release_namespace, gate, *install)
    try:
        # the older chart's registration, calling this release's Service: removed by the upgrade
        admission.create_validating_webhook_configuration(legacy_configuration(name, release_namespace))
        run_with_gate(cluster_helm, kube_admin, release_namespace, gate, *upgrade)
        assert webhook_configuration(kube_admin, name) is None, (
            "the older chart's registration was left behind"
        )
        assert webhook_configuration(kube_admin, f"{name}-{release_namespace}") is not None
        # one of that name calling another namespace's Service belongs to another release: kept
        admission.create_validating_webhook_configuration(legacy_configuration(name, "another-namespace"))
        run_with_gate(cluster_helm, kube_admin, release_namespace, gate, *upgrade)
        assert webhook_configuration(kube_admin, name) is not None, "another release's webhook was removed"
    finally:
        if webhook_configuration(kube_admin, name) is not None:
            admission.delete_validating_webhook_configuration(name)
        done = cluster_helm.run("uninstall", release, "-n", release_namespace, "--timeout", "60s")
    assert done.returncode == 0, done.stderr
    assert webhook_configuration(kube_admin, f"{name}-{release_namespace}") is None
