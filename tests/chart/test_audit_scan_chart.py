"""The chart's audit scan CronJob (values `audit.scan`): off by default; when on, it runs
`sigwebhook audit scan` with the webhook's own config, under a ServiceAccount that may only get/list
pods (and the workload kinds with `workloads`) and read the key Secrets the config names."""

from __future__ import annotations

import pytest

from tests.chart.conftest import NAMESPACE, of_kind, only

pytestmark = pytest.mark.helm

SCAN_ACCOUNT = "sigwebhook-audit"


def test_no_scan_unless_enabled(render) -> None:
    docs = render("default")
    assert of_kind(docs, "CronJob") == []
    assert all(not r["metadata"]["name"].endswith("-audit") for r in of_kind(docs, "ClusterRole"))


def test_the_cronjob_runs_the_scan_with_the_webhooks_config_and_its_options(render) -> None:
    docs = render("audit-scan")
    cron = only(docs, "CronJob")
    assert cron["apiVersion"] == "batch/v1" and cron["spec"]["schedule"] == "*/30 * * * *"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # a failed Job is the finding: not retried
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["sigwebhook"]
    assert container["args"] == [
        "audit", "scan", "--config", "/etc/sigwebhook/config/config.yaml", "--output", "prometheus",
        "--concurrency", "8", "--workloads", "--namespace", "prod", "--namespace", "staging",
        "--exclude-namespace", "sandbox", "--pushgateway", "http://pushgateway.monitoring:9091",
    ]  # fmt: skip
    config_map = only(docs, "ConfigMap")["metadata"]["name"]
    assert {"name": "config", "configMap": {"name": config_map}} in pod["volumes"]
    assert pod["serviceAccountName"] == SCAN_ACCOUNT and pod["automountServiceAccountToken"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # the webhook's Service must not send admission reviews to the scan's pod
    selector = only(docs, "Service")["spec"]["selector"]
    labels = job["template"]["metadata"]["labels"]
    assert not all(labels.get(k) == v for k, v in selector.items())


def test_the_scans_rbac_is_get_and_list_only_and_it_reads_the_key_secrets(render) -> None:
    docs = render("audit-scan")
    (role,) = [r for r in of_kind(docs, "ClusterRole") if r["metadata"]["name"].endswith("-audit")]
    assert {(g, res) for rule in role["rules"] for g in rule["apiGroups"] for res in rule["resources"]} == {
        ("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "replicasets"),
        ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"),
    }  # fmt: skip
    assert all(rule["verbs"] == ["get", "list"] for rule in role["rules"])
    without_workloads = render("audit-scan", "--set", "audit.scan.workloads=false")
    (role,) = [
        r for r in of_kind(without_workloads, "ClusterRole") if r["metadata"]["name"].endswith("-audit")
    ]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    key_bindings = [b for b in of_kind(docs, "RoleBinding") if b["metadata"]["name"].endswith("-read-keys")]
    assert {b["metadata"]["namespace"] for b in key_bindings} == {"team-keys", NAMESPACE}
    for binding in key_bindings:
        assert {"kind": "ServiceAccount", "name": SCAN_ACCOUNT, "namespace": NAMESPACE} in binding["subjects"]


def test_a_cluster_serving_only_batch_v1beta1_gets_that_cronjob(render) -> None:
    docs = render("audit-scan", "--api-versions", "batch/v1beta1/CronJob")
    assert only(docs, "CronJob")["apiVersion"] == "batch/v1beta1"
