"""The ConfigMap the chart renders is a config `app.config` accepts, for every values set, and the
Secrets the chart grants access to are exactly the ones that config makes the webhook watch.
This is what keeps chart and code from drifting apart.
"""

from __future__ import annotations

import pytest
import yaml

from app.compose import needs_cluster
from app.config import Settings, admission_policy, parse_settings
from app.core.admission.policy import Pinning
from app.core.trust.secretkeys import SecretRef
from tests.chart.conftest import NAMESPACE, VALUE_SETS, of_kind, only
from tests.chart.tools import REPO_ROOT

pytestmark = pytest.mark.helm
SOME_KEY = (REPO_ROOT / "examples/local/cosign.pub").read_text()

# what each spelling of pinDigest a values file may use means
PIN_DIGEST = {
    "pods": Pinning.PODS, "all": Pinning.ALL, "none": Pinning.NONE,
    "podsOnly": Pinning.PODS, True: Pinning.ALL, False: Pinning.NONE,
}  # fmt: skip


def rendered_settings(docs) -> Settings:
    data = yaml.safe_load(only(docs, "ConfigMap")["data"]["config.yaml"])
    return parse_settings(data, origin="rendered ConfigMap")


def key_secrets(settings: Settings) -> set[SecretRef]:
    """The key Secrets the policies name (read from the models: a file key of a values set is a path
    inside the pod, so the policies cannot be loaded here)."""
    return {key.secret for p in settings.policies for key in p.keys if key.secret is not None}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_config_is_accepted_by_app_config(render, value_set):
    settings = rendered_settings(render(value_set))
    assert settings.server.port == 8443
    assert settings.server.docs is False
    assert settings.kubernetes.kubeconfig is None


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rbac_covers_exactly_the_secrets_the_config_watches(render, value_set):
    docs = render(value_set)
    settings = rendered_settings(docs)
    watched = key_secrets(settings)
    if settings.registries.pull_secret is not None:
        watched.add(settings.registries.pull_secret)
    granted = {
        SecretRef(role["metadata"]["namespace"], name)
        for role in of_kind(docs, "Role")
        for rule in role["rules"]
        for name in rule["resourceNames"]
    }
    assert granted == watched


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_server_serves_the_certificate_the_deployment_mounts(render, value_set):
    docs = render(value_set)
    settings = rendered_settings(docs)
    container = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(settings.server.tls.cert_file) == f"{mounts['tls']}/tls.crt"
    assert str(settings.server.tls.key_file) == f"{mounts['tls']}/tls.key"
    assert container["args"][-1] == f"{mounts['config']}/config.yaml"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_policy_mode_and_pinning_reach_the_app_as_the_values_say(render, value_set):
    docs = render(value_set)
    rendered = yaml.safe_load(only(docs, "ConfigMap")["data"]["config.yaml"])["policies"]
    settings = rendered_settings(docs)
    for given, parsed in zip(rendered, settings.policies, strict=True):
        assert parsed.mode == given.get("mode", "enforce")
        assert parsed.pin_digest is PIN_DIGEST[given.get("pinDigest", "pods")]


def test_a_warn_policy_and_a_workload_pinning_policy_become_core_policies(render):
    settings = rendered_settings(render("pin-workloads"))
    core = {p.name: p for p in admission_policy(settings).policies}
    assert core["release"].mode.value == "enforce" and core["release"].pinning is Pinning.ALL
    assert core["new-team"].mode.value == "warn" and core["new-team"].pinning is Pinning.NONE


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_mutate_receives_workloads_exactly_when_a_policy_pins_them_or_objects_is_all(render, value_set):
    docs = render(value_set)
    settings = rendered_settings(docs)
    registered = [d for d in of_kind(docs, "MutatingWebhookConfiguration") if d["webhooks"]]
    if not registered:
        return
    resources = {r for rule in registered[0]["webhooks"][0]["rules"] for r in rule["resources"]}
    pins_workloads = any(p.pin_digest is Pinning.ALL for p in settings.policies)
    if pins_workloads:
        assert "deployments" in resources, "a policy pins workloads that /mutate never sees"
    else:
        assert resources == {"pods", "pods/ephemeralcontainers"}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_pod_pull_secrets_grant_exists_exactly_when_the_app_reads_them(render, value_set):
    docs = render(value_set)
    settings = rendered_settings(docs)
    webhook_roles = [r for r in of_kind(docs, "ClusterRole") if not r["metadata"]["name"].endswith("-audit")]
    assert bool(webhook_roles) is settings.registries.pod_pull_secrets  # the audit scan's role is its own
    token = only(docs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"]
    assert token is needs_cluster(settings, key_secrets(settings))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_metrics_listen_where_the_container_and_service_ports_point(render, value_set):
    docs = render(value_set)
    settings = rendered_settings(docs)
    container = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service = {p["name"]: p["targetPort"] for p in only(docs, "Service")["spec"]["ports"]}
    assert ports["https"] == settings.server.port
    if settings.metrics.enabled:
        assert ports["metrics"] == settings.metrics.port != settings.server.port
        assert service["metrics"] == "metrics"
    else:
        assert "metrics" not in ports and "metrics" not in service


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_trusted_root_the_config_names_is_a_file_the_deployment_mounts(render, value_set):
    docs = render(value_set)
    settings = rendered_settings(docs)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    mounted = {
        f"{mount['mountPath']}/{item['path']}"
        for mount in pod["containers"][0]["volumeMounts"]
        for volume in pod["volumes"]
        if volume["name"] == mount["name"] and "projected" in volume
        for source in volume["projected"]["sources"]
        for item in source["configMap"]["items"]
    }
    assert {str(root.file) for root in settings.trusted_roots.values()} == mounted


def test_an_inline_trusted_root_reaches_the_app_as_given_and_the_policies_use_their_roots(render, tmp_path):
    docs = render("keyless")
    config_map = only(docs, "ConfigMap")["data"]
    data = yaml.safe_load(config_map["config.yaml"])
    for name in data["trustedRoots"]:
        (tmp_path / f"{name}.json").write_text(config_map.get(f"trusted-root-{name}.json", "") or "{}")
        data["trustedRoots"][name] = {"file": str(tmp_path / f"{name}.json")}
    (tmp_path / "airgap.json").write_bytes(
        (
            REPO_ROOT
            / "tests/assets/sigstore-conformance/bundle-verify"
            / "intoto-with-custom-trust-root/trusted_root.json"
        ).read_bytes()
    )  # the operator's own ConfigMap
    for policy in data["policies"]:
        policy["keys"] = [{"pem": SOME_KEY} for _ in policy.get("keys", [])]
    core = {p.name: p for p in admission_policy(parse_settings(data)).policies}
    assert core["ci-built"].identities[0].root.name == "public-good"
    assert core["ci-built"].identities[1].root.name == "corp"
    assert core["mirrored"].key_root.name == "airgap" and core["mirrored"].identities[0].root.name == "airgap"
    assert core["mirrored"].requirements.transparency_log and not core["mirrored"].requirements.sct
    assert not core["air-gapped-keys"].requirements.transparency_log


def test_config_accepts_what_the_values_example_promises(render):
    settings = rendered_settings(render())
    assert [str(r) for r in key_secrets(settings)] == [f"k8s://{NAMESPACE}/cosign-keys"]
    assert settings.unmatched == "deny"
    assert settings.log_level == "info"


def covered(webhook: dict) -> set[tuple[str, str, str, str]]:
    """(group, version, resource, operation) for every combination a webhook's rules match."""
    return {
        (group, version, resource, operation)
        for rule in webhook["rules"]
        for group in rule["apiGroups"]
        for version in rule["apiVersions"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }


def test_default_webhooks_cover_what_the_apps_reference_configurations_cover(render):
    """examples/kubernetes/webhook-configurations.yaml is the app side's reference for what /validate
    and /mutate must be sent; the chart's defaults must send the same."""
    reference = {
        d["kind"]: d["webhooks"][0]
        for d in yaml.safe_load_all(
            (REPO_ROOT / "examples" / "kubernetes" / "webhook-configurations.yaml").read_text()
        )
        if d
    }
    docs = render()
    chart = {
        kind: next(d for d in of_kind(docs, kind) if d["webhooks"])["webhooks"][0]
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    }
    for kind, webhook in chart.items():
        assert (
            webhook["clientConfig"]["service"]["path"] == reference[kind]["clientConfig"]["service"]["path"]
        )
        assert webhook.get("reinvocationPolicy") == reference[kind].get("reinvocationPolicy")
        # The reference writes jobs and cronjobs for batch v1 and v1beta1 in one rule; batch/v1beta1
        # never served Jobs, so the chart lists only v1beta1 CronJobs.
        unserved = {("batch", "v1beta1", "jobs", op) for op in ("CREATE", "UPDATE")}
        assert covered(webhook) == covered(reference[kind]) - unserved, kind
