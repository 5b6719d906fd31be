"""What the rendered chart must say: webhook rules and selector, the mutating webhook, RBAC scope,
pod security, TLS wiring, metrics.

Each test reads the YAML the real helm renders for one of the values sets in `values/`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.chart.conftest import NAMESPACE, RELEASE, VALUE_SETS, hook_of, of_kind, only

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


CLUSTER_NAME = f"{RELEASE}-{NAMESPACE}"  # the webhook configurations and cluster roles carry the namespace
POD_RULE = {
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "operations": ["CREATE", "UPDATE"],
    "resources": ["pods", "pods/ephemeralcontainers"],
    "scope": "Namespaced",
}
# Every kind with a pod template, by (group, version) -> resources.
WORKLOAD_RESOURCES = {
    ("", "v1"): {"replicationcontrollers"},
    ("apps", "v1"): {"deployments", "replicasets", "statefulsets", "daemonsets"},
    ("batch", "v1"): {"jobs", "cronjobs"},
    ("batch", "v1beta1"): {"cronjobs"},
}


def resources_by_version(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """The rules flattened to (group, version) -> resources, checking each says CREATE+UPDATE, namespaced."""
    found: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert rule["operations"] == ["CREATE", "UPDATE"], rule
        assert rule["scope"] == "Namespaced", rule
        for group in rule["apiGroups"]:
            for version in rule["apiVersions"]:
                found.setdefault((group, version), set()).update(rule["resources"])
    return found


def workload_coverage(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """What the rules cover beyond pods: (group, version) -> resources, empty when pods only."""
    covered = resources_by_version(rules)
    covered[("", "v1")] -= {"pods", "pods/ephemeralcontainers"}
    return {k: v for k, v in covered.items() if v}


def mutating_of(docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The registered mutating webhook, or None when the chart registers none."""
    found = [
        d
        for d in of_kind(docs, "MutatingWebhookConfiguration")
        if d["webhooks"] and "post-install" in hook_of(d)
    ]
    if not found:
        return None
    assert len(found) == 1 and len(found[0]["webhooks"]) == 1
    return dict(found[0]["webhooks"][0])


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_webhook_checks_pods_and_ephemeral_containers_on_create_and_update(render, value_set):
    hook = webhook_of(render(value_set))
    assert hook["rules"][0] == POD_RULE
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "None"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["clientConfig"]["service"] == {
        "name": "sigwebhook",
        "namespace": NAMESPACE,
        "path": "/validate",
        "port": 443,
    }


def test_webhook_checks_every_workload_kind_by_default(render):
    rules = webhook_of(render())["rules"]
    assert workload_coverage(rules) == WORKLOAD_RESOURCES
    # Never the scale or status subresources: they change no image.
    assert not [
        r for rs in resources_by_version(rules).values() for r in rs if r.endswith(("/scale", "/status"))
    ]


def test_workload_checks_can_be_turned_off_leaving_pods_only(render):
    hook = webhook_of(render("minimal"))
    assert hook["rules"] == [POD_RULE]
    assert workload_coverage(hook["rules"]) == {}


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


def test_namespaces_the_config_skips_are_left_out_of_the_selector_too(render):
    docs = render("default", "--set-json", 'config.skipNamespaces=["legacy-apps"]')
    by_name = next(
        e
        for e in webhook_of(docs)["namespaceSelector"]["matchExpressions"]
        if e["key"] == "kubernetes.io/metadata.name"
    )
    assert "legacy-apps" in by_name["values"] and "legacy-apps" in config_of(docs)["skipNamespaces"]
    assert mutating_of(docs)["namespaceSelector"] == webhook_of(docs)["namespaceSelector"]


def test_helper_pods_are_not_selected_by_the_service_the_budget_or_the_anti_affinity(render):
    docs = render()
    selector = only(docs, "Service")["spec"]["selector"]
    assert only(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    deployment = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= deployment.items()
    helpers = [
        only(docs, "Job")["spec"]["template"]["metadata"]["labels"],
        only(docs, "Pod")["metadata"]["labels"],
    ]
    for labels in helpers:
        assert not selector.items() <= labels.items(), (
            labels
        )  # the gate or test pod would get admission calls


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
    cleanup = only(named(docs, CLUSTER_NAME), "ValidatingWebhookConfiguration", hook="pre-delete")
    for phase in ("post-install", "post-upgrade", "post-rollback"):
        assert phase in hook_of(job) and phase in hook_of(vwc)
    weight = lambda d: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])  # noqa: E731
    assert weight(job) < weight(vwc)
    # The gate is bounded twice: by the script's own deadline and by the Job's.
    assert job["spec"]["backoffLimit"] == 0
    gate = job["spec"]["template"]["spec"]["containers"][0]
    options = dict(arg.removeprefix("--").partition("=")[::2] for arg in gate["args"])
    assert gate["command"] == ["sigwebhook", "wait-ready"]
    assert int(options["wait-seconds"]) < job["spec"]["activeDeadlineSeconds"]
    assert options["url"] == f"https://sigwebhook.{NAMESPACE}.svc:443"
    # Uninstall: same name, no webhooks, deleted again once applied.
    assert cleanup["metadata"]["name"] == vwc["metadata"]["name"]
    assert cleanup["webhooks"] == []
    assert "hook-succeeded" in cleanup["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    assert "before-hook-creation" in cleanup["metadata"]["annotations"]["helm.sh/hook-delete-policy"]


def named(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["metadata"]["name"] == name]


def test_an_upgrade_hands_over_to_a_copy_while_helm_re_creates_each_registered_configuration(render):
    """Helm runs a hook by deleting the object of that name, then creating it: between the two, no
    webhook would be registered. A copy under another name covers that moment; nothing to hand over
    on install; removed on uninstall in case an upgrade was interrupted."""
    docs = render()
    weight = lambda d: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])  # noqa: E731
    gate = only(docs, "Job")
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        registered = only(named(docs, CLUSTER_NAME), kind, hook="post-install")
        handover = only(named(docs, f"{CLUSTER_NAME}-handover"), kind, hook="post-upgrade")
        assert handover["webhooks"] == registered["webhooks"]
        assert set(hook_of(handover).split(",")) == {"post-upgrade", "post-rollback"}
        assert weight(gate) < weight(handover) < weight(registered)
        policy = handover["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
        assert "hook-succeeded" in policy, "Helm must delete the copy once the registration is back"
        assert "hook-succeeded" not in registered["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
        removal = only(named(docs, f"{CLUSTER_NAME}-handover"), kind, hook="pre-delete")
        assert removal["webhooks"] == []
    minimal = of_kind(named(render("minimal"), f"{CLUSTER_NAME}-handover"), "MutatingWebhookConfiguration")
    assert [d["webhooks"] for d in minimal] == [[]], "mutating off: only the removal, no copy"


def test_no_webhook_configuration_is_a_plain_release_object(render):
    for value_set in VALUE_SETS:
        docs = render(value_set)
        for config in [
            *of_kind(docs, "ValidatingWebhookConfiguration"),
            *of_kind(docs, "MutatingWebhookConfiguration"),
        ]:
            assert hook_of(config), (
                f"{value_set}: a webhook configuration outside the hooks would register too early"
            )


# -- digest pinning: the MutatingWebhookConfiguration ------------------------------------------------


def test_mutating_webhook_pins_pods_only_by_default(render):
    docs = render()
    hook = mutating_of(docs)
    assert hook is not None, "mutating.enabled is on by default"
    assert hook["rules"] == [POD_RULE]
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["clientConfig"]["service"]["path"] == "/mutate"
    # The default policy pins pods only, which is all these rules send.
    assert config_of(docs)["policies"][0]["pinDigest"] == "pods"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_mutating_webhook_shares_the_validating_ones_selector_service_tls_and_timeouts(render, value_set):
    docs = render(value_set)
    mutating, validating = mutating_of(docs), webhook_of(docs)
    if mutating is None:
        return
    for field in ("namespaceSelector", "failurePolicy", "timeoutSeconds", "sideEffects", "matchPolicy"):
        assert mutating[field] == validating[field], field
    assert mutating["admissionReviewVersions"] == ["v1"]
    same_service = dict(validating["clientConfig"]["service"], path="/mutate")
    assert mutating["clientConfig"] == dict(validating["clientConfig"], service=same_service)
    mwc = only(docs, "MutatingWebhookConfiguration", hook="post-install")
    vwc = only(docs, "ValidatingWebhookConfiguration", hook="post-install")
    for key in ("helm.sh/hook", "helm.sh/hook-weight", "cert-manager.io/inject-ca-from"):
        assert mwc["metadata"]["annotations"].get(key) == vwc["metadata"]["annotations"].get(key), key
    assert mwc["metadata"]["name"] == vwc["metadata"]["name"]


def test_a_policy_pinning_workloads_sends_the_workload_kinds_to_mutate(render):
    docs = render("pin-workloads")
    policies = {p["name"]: p for p in config_of(docs)["policies"]}
    assert policies["release"]["pinDigest"] is True
    assert workload_coverage(mutating_of(docs)["rules"]) == WORKLOAD_RESOURCES
    # objects=all sends them even when no policy asks.
    assert workload_coverage(mutating_of(render("default", "--set", "mutating.objects=all"))["rules"])


@pytest.mark.parametrize("pin_digest", ["all", True])
def test_pin_digest_all_or_its_first_spelling_true_sends_the_workload_kinds_to_mutate(render, pin_digest):
    policy = {"name": "p", "images": ["**"], "keys": [{"file": "/k"}], "pinDigest": pin_digest}
    docs = render("default", "--set-json", f"config.policies={json.dumps([policy])}")
    assert workload_coverage(mutating_of(docs)["rules"]) == WORKLOAD_RESOURCES


def test_gitops_mode_never_sends_workloads_to_mutate_but_still_validates_them(render):
    docs = render("gitops")
    assert mutating_of(docs)["rules"] == [POD_RULE]
    assert workload_coverage(webhook_of(docs)["rules"]) == WORKLOAD_RESOURCES


def test_reinvocation_can_be_turned_off(render):
    hook = mutating_of(render("default", "--set", "mutating.reinvocationPolicy=Never"))
    assert hook["reinvocationPolicy"] == "Never"


def test_mutating_webhook_off_registers_none_and_removes_an_earlier_one_on_upgrade(render):
    docs = render("minimal")
    assert mutating_of(docs) is None
    removal = [d for d in of_kind(docs, "MutatingWebhookConfiguration") if "post-upgrade" in hook_of(d)]
    assert len(removal) == 1 and removal[0]["webhooks"] == []
    assert removal[0]["metadata"]["name"] == CLUSTER_NAME
    policy = removal[0]["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    assert "before-hook-creation" in policy and "hook-succeeded" in policy


def test_objects_outside_the_release_namespace_carry_it_so_two_releases_of_one_name_never_collide(render):
    kinds = (
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ClusterRole",
        "ClusterRoleBinding",
    )

    def names(namespace):
        docs = render("gitops", "--namespace", namespace)  # the last --namespace wins
        cluster = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in kinds}
        roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in of_kind(docs, "Role")}
        return cluster, roles

    (first, first_roles), (second, second_roles) = names("team-one"), names("team-two")
    assert first and second and not first & second
    assert first_roles and not first_roles & second_roles


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_uninstall_removes_both_webhook_configurations(render, value_set):
    docs = render(value_set)
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        cleanup = only(named(docs, CLUSTER_NAME), kind, hook="pre-delete")
        assert cleanup["webhooks"] == []
        policy = cleanup["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
        assert "before-hook-creation" in policy and "hook-succeeded" in policy


def test_generated_ca_bundle_is_the_same_in_both_webhook_configurations(render):
    docs = render()
    assert mutating_of(docs)["clientConfig"]["caBundle"] == only(docs, "Secret")["data"]["ca.crt"]


# -- pods' own pull credentials: RBAC only when asked --------------------------------------------------


def test_no_cluster_wide_grant_unless_pod_pull_secrets_are_on(render):
    for value_set in VALUE_SETS:
        docs = render(value_set)
        on = bool((config_of(docs).get("registries") or {}).get("podPullSecrets"))
        # the audit scan's get/list grant (audit.scan.enabled, opt-in) is its own ServiceAccount's
        roles = [r for r in of_kind(docs, "ClusterRole") if not r["metadata"]["name"].endswith("-audit")]
        bindings = [
            b for b in of_kind(docs, "ClusterRoleBinding") if not b["metadata"]["name"].endswith("-audit")
        ]
        assert bool(roles) == on, value_set
        if not on:
            assert not bindings, value_set


def test_pod_pull_secrets_grant_get_on_secrets_and_service_accounts_cluster_wide(render):
    docs = render("gitops")
    role = only(docs, "ClusterRole")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get"]}
    ]
    binding = only(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sigwebhook", "namespace": NAMESPACE}]


def test_pod_pull_secrets_can_be_granted_in_listed_namespaces_only(render):
    docs = render("pin-workloads")
    assert not of_kind(docs, "ClusterRoleBinding")
    role = only(docs, "ClusterRole")
    bindings = [b for b in of_kind(docs, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "sigwebhook", "namespace": NAMESPACE}
        ]


def test_pod_pull_secrets_alone_give_the_webhook_a_token(render):
    docs = render("file-keys", "--set", "config.registries.podPullSecrets=true")
    assert pod_specs(docs)["Deployment"]["automountServiceAccountToken"] is True
    assert of_kind(docs, "ClusterRole")


# -- metrics -------------------------------------------------------------------------------------------


def test_metrics_port_is_on_the_container_and_the_service_and_in_the_config(render):
    docs = render("pin-workloads")
    container = pod_specs(docs)["Deployment"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"https": 8443, "metrics": 9102}
    service_ports = {p["name"]: p for p in only(docs, "Service")["spec"]["ports"]}
    assert service_ports["metrics"]["port"] == 9102 and service_ports["metrics"]["targetPort"] == "metrics"
    assert config_of(docs)["metrics"] == {"enabled": True, "host": "0.0.0.0", "port": 9102}


def test_metrics_off_opens_no_port(render):
    docs = render("minimal")
    assert [p["name"] for p in pod_specs(docs)["Deployment"]["containers"][0]["ports"]] == ["https"]
    assert [p["name"] for p in only(docs, "Service")["spec"]["ports"]] == ["https"]
    assert config_of(docs)["metrics"]["enabled"] is False
    assert not of_kind(render("minimal", "--set", "metrics.serviceMonitor.enabled=true"), "ServiceMonitor")


def test_service_monitor_scrapes_the_metrics_port_when_enabled(render):
    assert not of_kind(render(), "ServiceMonitor")
    docs = render("pin-workloads")
    monitor = only(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "scheme": "http", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    assert monitor["spec"]["selector"]["matchLabels"] == only(docs, "Service")["spec"]["selector"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def webhook_network_policy(docs):
    """The NetworkPolicy of the webhook pods (the other one closes the helper pods to all ingress)."""
    policies = {p["metadata"]["name"]: p for p in of_kind(docs, "NetworkPolicy")}
    helper = policies.pop(f"{RELEASE}-helper-pods")
    assert helper["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in helper["spec"]
    assert helper["spec"]["podSelector"]["matchLabels"]["sigwebhook.dev/helper-pod"] == "true"
    assert len(policies) == 1
    return next(iter(policies.values()))


def test_network_policy_lets_the_metrics_port_in_from_the_given_peers(render):
    policy = webhook_network_policy(render("pin-workloads"))
    assert policy["spec"]["ingress"] == [
        {"ports": [{"port": 8443, "protocol": "TCP"}]},
        {
            "ports": [{"port": 9102, "protocol": "TCP"}],
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        },
    ]


def test_network_policy_admits_only_the_webhook_port_when_enabled(render):
    assert not of_kind(render(), "NetworkPolicy")
    policy = webhook_network_policy(render("opt-in"))
    assert policy["spec"]["ingress"] == [
        {"ports": [{"port": 8443, "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]},
        {"ports": [{"port": 9090, "protocol": "TCP"}]},
    ]
    assert webhook_network_policy(render("opt-in", "--set", "metrics.enabled=false"))["spec"]["ingress"] == [
        {"ports": [{"port": 8443, "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}
    ]


def test_config_carries_the_server_block_the_chart_mounts(render):
    config = config_of(render())
    assert config["server"]["port"] == 8443
    assert config["server"]["docs"] is False
    assert config["server"]["tls"]["certFile"] == "/etc/sigwebhook/tls/tls.crt"
    assert config["policies"][0]["keys"] == [{"secret": f"k8s://{NAMESPACE}/cosign-keys"}]
