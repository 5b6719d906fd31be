"""The ConfigMap the chart renders is a config `app.config` accepts, for every values set, and the
Secrets the chart grants access to are exactly the ones that config makes the webhook watch.
This is what keeps chart and code from drifting apart.
"""

from __future__ import annotations

import pytest
import yaml

from app.config import Settings, parse_settings
from app.core.keysources import SecretRef
from tests.chart.conftest import NAMESPACE, VALUE_SETS, of_kind, only

pytestmark = pytest.mark.helm


def rendered_settings(docs) -> Settings:
    data = yaml.safe_load(only(docs, "ConfigMap")["data"]["config.yaml"])
    return parse_settings(data, origin="rendered ConfigMap")


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
    watched = set(settings.secret_refs())
    if settings.registries.pull_secret is not None:
        watched.add(SecretRef.parse(settings.registries.pull_secret))
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


def test_config_accepts_what_the_values_example_promises(render):
    settings = rendered_settings(render())
    assert [str(r) for r in settings.secret_refs()] == [f"k8s://{NAMESPACE}/cosign-keys"]
    assert settings.unmatched == "deny"
    assert settings.log_level == "info"
