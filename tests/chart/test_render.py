"""What the rendered chart must say: webhook rules and selector, RBAC scope, pod security, TLS wiring.

Each test reads the YAML the real helm renders for one of the values sets in `values/`.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.chart.conftest import NAMESPACE, VALUE_SETS, hook_of, of_kind, only

pytestmark = pytest.mark.helm


def webhook_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    vwc = only(docs, "ValidatingWebhookConfiguration", hook="post-install")
    assert len(vwc["webhooks"]) == 1
    return dict(vwc["webhooks"][0])


def config_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(yaml.safe_load(only(docs, "ConfigMap")["data"]["config.yaml"]))


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod spec the chart renders (Deployment, registration Job, helm test Pod) by kind."""
    specs = {"Deployment": only(docs, "Deployment")["spec"]["template"]["spec"]}
    specs["Job"] = only(docs, "Job")["spec"]["template"]["spec"]
    specs["Pod"] = only(docs, "Pod")["spec"]
    return specs


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_webhook_checks_pods_and_ephemeral_containers_on_create_and_update(render, value_set):
    hook = webhook_of(render(value_set))
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["pods", "pods/ephemeralcontainers"],
            "scope": "Namespaced",
        }
    ]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "None"
    assert hook["clientConfig"]["service"] == {
        "name": "sigwebhook",
        "namespace": NAMESPACE,
        "path": "/validate",
        "port": 443,
    }


def test_webhook_fails_closed_with_a_ten_second_timeout_by_default(render):
    hook = webhook_of(render())
    assert hook["failurePolicy"] == "Fail"
    assert hook["timeoutSeconds"] == 10


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_server_deadline_is_below_the_webhook_timeout(render, value_set):
    docs = render(value_set)
    assert config_of(docs)["deadlineSeconds"] < webhook_of(docs)["timeoutSeconds"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_release_namespace_and_kube_system_are_never_sent_to_the_webhook(render, value_set):
    docs = render(value_set)
    expressions = webhook_of(docs)["namespaceSelector"]["matchExpressions"]
    by_name = [e for e in expressions if e["key"] == "kubernetes.io/metadata.name"]
    assert len(by_name) == 1
    assert by_name[0]["operator"] == "NotIn"
    assert {NAMESPACE, "kube-system"} <= set(by_name[0]["values"])
    # The server skips them too, should a selector ever let one through.
    assert {NAMESPACE, "kube-system"} <= set(config_of(docs)["skipNamespaces"])


def test_opt_out_mode_verifies_every_namespace_not_labelled_disabled(render):
    expressions = webhook_of(render())["namespaceSelector"]["matchExpressions"]
    assert {"key": "sigwebhook.dev/verify", "operator": "NotIn", "values": ["disabled"]} in expressions


def test_opt_in_mode_verifies_only_namespaces_labelled_enabled_and_excludes_listed_ones(render):
    docs = render("opt-in")
    hook = webhook_of(docs)
    expressions = hook["namespaceSelector"]["matchExpressions"]
    assert {"key": "example.com/verify-images", "operator": "In", "values": ["enabled"]} in expressions
    by_name = next(e for e in expressions if e["key"] == "kubernetes.io/metadata.name")
    assert by_name["values"] == [NAMESPACE, "kube-system", "monitoring", "kube-node-lease"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] == 15


def test_rbac_grants_read_on_the_named_key_secret_only(render):
    docs = render()
    role = only(docs, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["cosign-keys"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")


def test_rbac_has_one_role_per_namespace_holding_keys_or_the_pull_secret(render):
    docs = render("multi-policy")
    roles = {r["metadata"]["namespace"]: r["rules"] for r in of_kind(docs, "Role")}
    names = {ns: rules[0]["resourceNames"] for ns, rules in roles.items()}
    assert names == {
        NAMESPACE: ["cosign-keys"],
        "platform": ["cosign-platform"],
        "registry-auth": ["pull-credentials"],
        "team-keys": ["cosign-prod", "cosign-prod-backup"],
    }
    for rules in roles.values():
        assert len(rules) == 1 and rules[0]["verbs"] == ["get", "list", "watch"]
    bindings = of_kind(docs, "RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == set(roles)
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "sigwebhook", "namespace": NAMESPACE}
        ]
        assert binding["roleRef"]["kind"] == "Role"


def test_every_rbac_rule_is_narrowed_by_resource_names(render):
    for value_set in VALUE_SETS:
        for role in of_kind(render(value_set), "Role"):
            for rule in role["rules"]:
                assert rule.get("resourceNames"), (
                    f"{value_set}: {role['metadata']['name']} grants a whole kind"
                )
                assert rule["resources"] == ["secrets"]
                assert set(rule["verbs"]) <= {"get", "list", "watch"}


def test_file_keys_need_no_role_and_no_service_account_token(render):
    docs = render("file-keys")
    assert not of_kind(docs, "Role") and not of_kind(docs, "RoleBinding")
    assert pod_specs(docs)["Deployment"]["automountServiceAccountToken"] is False


def test_only_the_webhook_pods_get_a_token_and_only_to_watch_secrets(render):
    docs = render()
    specs = pod_specs(docs)
    assert specs["Deployment"]["automountServiceAccountToken"] is True
    assert specs["Job"]["automountServiceAccountToken"] is False
    assert specs["Pod"]["automountServiceAccountToken"] is False
    assert only(docs, "ServiceAccount")["automountServiceAccountToken"] is False


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_container_runs_non_root_read_only_without_privileges(render, value_set):
    for kind, spec in pod_specs(render(value_set)).items():
        assert spec["securityContext"]["runAsNonRoot"] is True, kind
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, kind
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0, kind
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["privileged"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["requests"] and container["resources"]["limits"], kind


def test_deployment_is_highly_available_with_probes_and_a_disruption_budget(render):
    docs = render()
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spec = deployment["spec"]["template"]["spec"]
    preferred = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    container = spec["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert container["args"] == ["--config", "/etc/sigwebhook/config/config.yaml"]
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_a_config_change_rolls_the_pods(render):
    def checksum(*extra: str) -> str:
        return str(
            only(render("default", *extra), "Deployment")["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
        )

    assert checksum() == checksum()
    assert checksum("--set", "config.unmatched=allow") != checksum()


def test_image_is_pulled_by_digest_when_one_is_given(render):
    image = pod_specs(render("multi-policy"))["Deployment"]["containers"][0]["image"]
    assert image == "ghcr.io/sigwebhook/sigwebhook@sha256:" + "0123456789abcdef" * 4


def test_generated_ca_signs_the_serving_certificate_and_is_the_ca_bundle(render):
    docs = render()
    secret = only(docs, "Secret")
    bundle = webhook_of(docs)["clientConfig"]["caBundle"]
    assert bundle == secret["data"]["ca.crt"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(bundle))
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert f"sigwebhook.{NAMESPACE}.svc" in names
    # The Deployment serves exactly that Secret.
    volumes = {v["name"]: v for v in pod_specs(docs)["Deployment"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == secret["metadata"]["name"]


def test_cert_manager_mode_injects_the_ca_instead_of_a_bundle(render):
    docs = render("cert-manager")
    vwc = only(docs, "ValidatingWebhookConfiguration", hook="post-install")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/sigwebhook"
    assert "caBundle" not in vwc["webhooks"][0]["clientConfig"]
    assert not of_kind(docs, "Secret")
    certificates = {c["metadata"]["name"]: c for c in of_kind(docs, "Certificate")}
    serving = certificates["sigwebhook"]
    assert serving["spec"]["secretName"] == "sigwebhook-tls"
    assert f"sigwebhook.{NAMESPACE}.svc" in serving["spec"]["dnsNames"]
    assert serving["spec"]["issuerRef"] == {"kind": "Issuer", "name": "sigwebhook-ca"}
    assert certificates["sigwebhook-ca"]["spec"]["isCA"] is True


def test_cert_manager_mode_can_use_an_existing_cluster_issuer(render):
    docs = render("cert-manager-issuer")
    assert [c["metadata"]["name"] for c in of_kind(docs, "Certificate")] == ["sigwebhook"]
    assert not of_kind(docs, "Issuer")
    assert only(docs, "Certificate")["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "internal-ca"}


def test_existing_secret_mode_uses_that_secret_and_the_given_ca_bundle(render):
    docs = render("existing-secret")
    assert not of_kind(docs, "Secret") and not of_kind(docs, "Certificate")
    assert webhook_of(docs)["clientConfig"]["caBundle"].startswith("LS0tLS1CRUdJTi")
    volumes = {v["name"]: v for v in pod_specs(docs)["Deployment"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "my-webhook-tls"


def test_webhook_is_registered_after_the_readiness_gate_and_removed_on_uninstall(render):
    docs = render()
    job = only(docs, "Job")
    vwc = only(docs, "ValidatingWebhookConfiguration", hook="post-install")
    cleanup = only(docs, "ValidatingWebhookConfiguration", hook="pre-delete")
    for phase in ("post-install", "post-upgrade", "post-rollback"):
        assert phase in hook_of(job) and phase in hook_of(vwc)
    weight = lambda d: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])  # noqa: E731
    assert weight(job) < weight(vwc)
    # The gate is bounded twice: by the script's own deadline and by the Job's.
    assert job["spec"]["backoffLimit"] == 0
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert int(env["WAIT_SECONDS"]) < job["spec"]["activeDeadlineSeconds"]
    assert env["SIGWEBHOOK_URL"] == f"https://sigwebhook.{NAMESPACE}.svc:443"
    # Uninstall: same name, no webhooks, deleted again once applied.
    assert cleanup["metadata"]["name"] == vwc["metadata"]["name"]
    assert cleanup["webhooks"] == []
    assert "hook-succeeded" in cleanup["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    assert "before-hook-creation" in cleanup["metadata"]["annotations"]["helm.sh/hook-delete-policy"]


def test_no_webhook_configuration_is_a_plain_release_object(render):
    for value_set in VALUE_SETS:
        for vwc in of_kind(render(value_set), "ValidatingWebhookConfiguration"):
            assert hook_of(vwc), (
                f"{value_set}: a webhook configuration outside the hooks would register too early"
            )


def test_network_policy_admits_only_the_webhook_port_when_enabled(render):
    assert not of_kind(render(), "NetworkPolicy")
    policy = only(render("opt-in"), "NetworkPolicy")
    assert policy["spec"]["ingress"] == [
        {"ports": [{"port": 8443, "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}
    ]


def test_config_carries_the_server_block_the_chart_mounts(render):
    config = config_of(render())
    assert config["server"]["port"] == 8443
    assert config["server"]["docs"] is False
    assert config["server"]["tls"]["certFile"] == "/etc/sigwebhook/tls/tls.crt"
    assert config["policies"][0]["keys"] == [{"secret": f"k8s://{NAMESPACE}/cosign-keys"}]
