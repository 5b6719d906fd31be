"""manifests/ is the chart rendered (scripts/render-manifests.sh) and stays in sync with it; the
examples are valid objects, a real cosign-layout key Secret, and policies app.config accepts.
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
import yaml

from app.config import admission_policy, parse_settings
from app.core.trust.keys import load_public_key
from tests.chart.conftest import of_kind, only
from tests.chart.tools import REPO_ROOT

pytestmark = pytest.mark.helm

MANIFESTS = REPO_ROOT / "manifests"
EXAMPLES = MANIFESTS / "examples"


def numbered(directory):
    return sorted(directory.glob("[0-9][0-9]-*.yaml"))


def load_all(paths):
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_manifests_are_what_the_chart_renders_now(helm, tmp_path):
    env = dict(os.environ, SIGWEBHOOK_HELM=str(helm))
    subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "render-manifests.sh"), str(tmp_path)],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    fresh = {p.name: p.read_text() for p in numbered(tmp_path)}
    committed = {p.name: p.read_text() for p in numbered(MANIFESTS)}
    assert sorted(committed) == sorted(fresh), "run scripts/render-manifests.sh and commit manifests/"
    for name, text in fresh.items():
        assert committed[name] == text, (
            f"manifests/{name} drifted from the chart: run scripts/render-manifests.sh"
        )


def test_manifests_apply_the_webhook_configurations_last_and_carry_no_helm_machinery():
    files = numbered(MANIFESTS)
    assert files[0].name == "00-namespace.yaml"
    assert [d["kind"] for d in load_all(files[-2:])] == [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]
    docs = load_all(files)
    assert not of_kind(docs, "Job") and not of_kind(docs, "Pod")
    assert len(of_kind(docs, "ValidatingWebhookConfiguration")) == 1
    # The registering configuration only, never the empty removal hooks.
    mwc = only(docs, "MutatingWebhookConfiguration")
    assert mwc["webhooks"][0]["clientConfig"]["service"]["path"] == "/mutate"
    assert mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "sigwebhook/sigwebhook"
    for doc in docs:
        meta = doc["metadata"]
        for group in ("annotations", "labels"):
            assert not [k for k in meta.get(group) or {} if k.startswith("helm.sh/")], doc["kind"]
    # Static files cannot hold a generated key: TLS comes from cert-manager.
    assert not of_kind(docs, "Secret")
    vwc = only(docs, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "sigwebhook/sigwebhook"


def test_example_key_secret_has_the_cosign_k8s_layout_and_a_real_public_key():
    secret = only(load_all([EXAMPLES / "cosign-keys-secret.yaml"]), "Secret")
    assert set(secret["data"]) == {"cosign.key", "cosign.password", "cosign.pub"}
    assert secret["immutable"] is True
    assert "EXAMPLE ONLY" in (EXAMPLES / "cosign-keys-secret.yaml").read_text()
    key = load_public_key(base64.b64decode(secret["data"]["cosign.pub"]), "example cosign.pub")
    assert key is not None
    private = base64.b64decode(secret["data"]["cosign.key"]).decode()
    assert private.startswith("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")


def test_example_policies_render_into_a_config_app_config_loads(render):
    docs = render("default", "--values", str(EXAMPLES / "values-policies.yaml"))
    settings = parse_settings(yaml.safe_load(only(docs, "ConfigMap")["data"]["config.yaml"]))
    policy = admission_policy(settings)  # loads the inline PEM key too
    assert [p.name for p in settings.policies] == ["team", "prod-release", "mirrored-official-images"]
    assert len(policy.policies) == 3
    assert [(p.mode.value, p.pinning.name) for p in policy.policies] == [
        ("enforce", "PODS"),
        ("warn", "PODS"),
        ("enforce", "NONE"),
    ]
    granted = {
        (r["metadata"]["namespace"], tuple(r["rules"][0]["resourceNames"])) for r in of_kind(docs, "Role")
    }
    assert granted == {
        ("sigwebhook", ("cosign-keys",)),
        ("release-keys", ("release-key-1", "release-key-2", "release-key-3")),
    }


def test_example_pods_are_one_pinned_by_digest_and_one_by_tag():
    signed = only(load_all([EXAMPLES / "pod-signed.yaml"]), "Pod")
    unsigned = only(load_all([EXAMPLES / "pod-unsigned.yaml"]), "Pod")
    assert "@sha256:" in signed["spec"]["containers"][0]["image"]
    assert unsigned["spec"]["containers"][0]["image"] == "docker.io/library/busybox:1.36"
    assert signed["metadata"]["namespace"] == unsigned["metadata"]["namespace"] == "demo"
