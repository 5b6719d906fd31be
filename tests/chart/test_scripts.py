"""The Python the chart runs in its own pods (the registration gate Job and the `helm test` pod),
taken from the rendered chart and run against a real `sigwebhook serve` process over HTTPS.

No kubelet runs here, so these scripts would otherwise only ever run in a user's cluster. The
server is the embedded local example (`examples/local`: file keys, a self-signed certificate),
whose CA the scripts are given as CA_BUNDLE_B64, as for `tls.mode=existingSecret`.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import only
from tests.chart.tools import REPO_ROOT
from tests.support.registry_server import free_port

pytestmark = pytest.mark.helm

EXAMPLE = REPO_ROOT / "examples" / "local"


@dataclass(frozen=True)
class LocalWebhook:
    url: str
    ca_b64: str


REVISION = "0123456789abcdef"  # what the chart would set in SIGWEBHOOK_REVISION for the running pods


def start_webhook(
    directory: Path, revision: str = REVISION, **overrides: object
) -> tuple[subprocess.Popen[str], LocalWebhook]:
    """`sigwebhook serve` on a copy of the local example, on a free port, with SIGWEBHOOK_REVISION set as
    the chart sets it; waits for its certificate."""
    shutil.copytree(EXAMPLE, directory, ignore=shutil.ignore_patterns("tls"))
    port = free_port()
    config = directory / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data["server"].update(port=port, docs=False)
    data.update(overrides)
    config.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "DOCKER_CONFIG")}
    env["PYTHONPATH"] = f"{REPO_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env["SIGWEBHOOK_REVISION"] = revision
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--config", str(config)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    cert = directory / "tls" / "tls.crt"
    deadline = time.monotonic() + 20
    while not cert.is_file() or not cert.read_bytes().strip().endswith(b"-----END CERTIFICATE-----"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"sigwebhook serve did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)
    return process, LocalWebhook(f"https://localhost:{port}", base64.b64encode(cert.read_bytes()).decode())


def stop_webhook(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def webhook(tmp_path_factory) -> Iterator[LocalWebhook]:
    process, local = start_webhook(tmp_path_factory.mktemp("webhook") / "local")
    yield local
    stop_webhook(process)


@pytest.fixture(scope="module")
def admitting_webhook(tmp_path_factory) -> Iterator[LocalWebhook]:
    """A misconfigured webhook that admits images no policy matches (`unmatched: allow`)."""
    process, local = start_webhook(tmp_path_factory.mktemp("admitting") / "local", unmatched="allow")
    yield local
    stop_webhook(process)


def script_of(pod_spec: dict) -> str:
    container = pod_spec["containers"][0]
    assert container["command"] == ["python3", "-c"]
    return str(container["args"][0])


def run_script(script: str, url: str, ca_b64: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, SIGWEBHOOK_URL=url, CA_BUNDLE_B64=ca_b64, **env)
    return subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def gate_script(render) -> str:
    return script_of(only(render(), "Job")["spec"]["template"]["spec"])


def test_the_registration_gate_passes_once_a_pod_of_the_release_answers_readyz(render, webhook):
    done = run_script(
        gate_script(render), webhook.url, webhook.ca_b64, WAIT_SECONDS="20", EXPECTED_REVISION=REVISION
    )
    assert done.returncode == 0, done.stderr
    assert "registering the webhook configuration" in done.stdout


def test_the_registration_gate_of_an_upgrade_is_not_answered_by_a_pod_of_the_old_release(render, webhook):
    # the old pods keep answering /readyz through the Service while the new ones roll out (or crash)
    started = time.monotonic()
    done = run_script(
        gate_script(render),
        webhook.url,
        webhook.ca_b64,
        WAIT_SECONDS="3",
        EXPECTED_REVISION="fedcba9876543210",
    )
    assert done.returncode != 0 and time.monotonic() - started < 30
    assert f"a pod of revision {REVISION} answered, not fedcba9876543210" in done.stderr
    assert "was NOT registered" in done.stderr


def container_env(doc: dict) -> dict[str, str | None]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
    return {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}


def test_the_gate_job_expects_the_revision_the_deployment_sets(render):
    docs = render()
    revision = container_env(only(docs, "Deployment"))["SIGWEBHOOK_REVISION"]
    assert container_env(only(docs, "Job"))["EXPECTED_REVISION"] == revision
    changed = container_env(only(render("default", "--set", "config.unmatched=allow"), "Deployment"))
    assert changed["SIGWEBHOOK_REVISION"] != revision  # a config change is a new revision


def test_the_registration_gate_gives_up_at_its_bound_and_says_nothing_was_registered(render, webhook):
    closed = f"https://localhost:{free_port()}"
    started = time.monotonic()
    done = run_script(gate_script(render), closed, webhook.ca_b64, WAIT_SECONDS="1")
    assert done.returncode != 0
    assert time.monotonic() - started < 20
    assert "within 1s" in done.stderr and "was NOT registered" in done.stderr


def test_the_registration_gate_does_not_trust_a_certificate_outside_the_ca_bundle(
    render, webhook, admitting_webhook
):
    # The other server's self-signed certificate: a valid CA bundle, but not the one that signed.
    done = run_script(gate_script(render), webhook.url, admitting_webhook.ca_b64, WAIT_SECONDS="1")
    assert done.returncode != 0, "the gate accepted a server its CA bundle does not vouch for"
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr


def test_helm_test_passes_against_a_webhook_that_denies_unsigned_and_pins_nothing_unverified(render, webhook):
    script = script_of(only(render(), "Pod")["spec"])
    assert script.rstrip().endswith("self_test(True)")
    done = run_script(script, webhook.url, webhook.ca_b64)
    assert done.returncode == 0, done.stderr
    assert "an unsigned image is denied" in done.stdout
    assert "/mutate answers and pins nothing" in done.stdout


def test_helm_test_skips_mutate_when_the_mutating_webhook_is_off(render, webhook):
    script = script_of(only(render("minimal"), "Pod")["spec"])
    done = run_script(script, webhook.url, webhook.ca_b64)
    assert done.returncode == 0, done.stderr
    assert "/mutate" not in done.stdout


def test_helm_test_fails_when_the_webhook_admits_an_unsigned_image(render, admitting_webhook):
    script = script_of(only(render(), "Pod")["spec"])
    done = run_script(script, admitting_webhook.url, admitting_webhook.ca_b64)
    assert done.returncode != 0
    assert "an unsigned image was admitted" in done.stderr
