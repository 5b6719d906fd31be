"""The commands the chart runs in its own pods (the registration gate Job: `sigwebhook wait-ready`;
the `helm test` pod: `sigwebhook self-test`), taken from the rendered chart and run against a real
`sigwebhook serve` process over HTTPS.

No kubelet runs here, so these pods would otherwise only ever run in a user's cluster. The server is
the local example (`examples/local`: file keys, a self-signed certificate) started with the revision
the chart sets in its pods. Only the address and the CA (a local file instead of the mounted Secret,
or the base64 caBundle) and the gate's bound are changed in the rendered command.
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
    ca_file: Path

    @property
    def ca_b64(self) -> str:
        return base64.b64encode(self.ca_file.read_bytes()).decode()


def start_webhook(
    directory: Path, revision: str, **overrides: object
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
    return process, LocalWebhook(f"https://localhost:{port}", cert)


def stop_webhook(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def container_of(doc: dict) -> dict:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
    return spec["containers"][0]


def revision_of(docs: list[dict]) -> str:
    env = {e["name"]: e.get("value") for e in container_of(only(docs, "Deployment"))["env"]}
    return str(env["SIGWEBHOOK_REVISION"])


@pytest.fixture(scope="module")
def webhook(render, tmp_path_factory) -> Iterator[LocalWebhook]:
    """The webhook running what a pod of the default release runs (its revision)."""
    process, local = start_webhook(tmp_path_factory.mktemp("webhook") / "local", revision_of(render()))
    yield local
    stop_webhook(process)


@pytest.fixture(scope="module")
def admitting_webhook(render, tmp_path_factory) -> Iterator[LocalWebhook]:
    """A misconfigured webhook that admits images no policy matches (`unmatched: allow`)."""
    directory = tmp_path_factory.mktemp("admitting") / "local"
    process, local = start_webhook(directory, revision_of(render()), unmatched="allow")
    yield local
    stop_webhook(process)


def run_chart_command(
    doc: dict, url: str, ca_file: Path | None = None, ca_b64: str | None = None, **replaced: str
) -> subprocess.CompletedProcess[str]:
    """Run the command the chart gives the pod `doc`, pointed at `url` and trusting the local CA
    (`--ca-file` or `--ca-bundle`, whichever the chart passes); `replaced` sets other options
    (`wait_seconds="1"`)."""
    container = container_of(doc)
    command = container["command"]
    assert command[0] == "sigwebhook" and "env" not in container
    values = {"url": url, **replaced}
    if ca_file is not None:
        values["ca_file"] = str(ca_file)
    if ca_b64 is not None:
        values["ca_bundle"] = ca_b64
    args = []
    for arg in container["args"]:
        name = arg.removeprefix("--").partition("=")[0]
        key = name.replace("-", "_")
        args.append(f"--{name}={values[key]}" if key in values else arg)
    env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "app", *command[1:], *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def options_of(doc: dict) -> dict[str, str]:
    return dict(arg.removeprefix("--").partition("=")[::2] for arg in container_of(doc)["args"])


def test_the_registration_gate_passes_once_a_pod_of_the_release_answers_readyz(render, webhook):
    done = run_chart_command(only(render(), "Job"), webhook.url, webhook.ca_file)
    assert done.returncode == 0, done.stderr
    assert "registering the webhook configuration" in done.stdout


def test_the_registration_gate_of_an_upgrade_is_not_answered_by_a_pod_of_the_old_release(render, webhook):
    # the old pods keep answering /readyz through the Service while the new ones roll out (or crash)
    upgrade = render("default", "--set", "config.unmatched=allow")
    started = time.monotonic()
    done = run_chart_command(only(upgrade, "Job"), webhook.url, webhook.ca_file, wait_seconds="3")
    assert done.returncode != 0 and time.monotonic() - started < 30
    old, new = revision_of(render()), revision_of(upgrade)
    assert f"a pod of revision {old} answered, not {new}" in done.stderr
    assert "was NOT registered" in done.stderr


def test_the_gate_job_expects_the_revision_the_deployment_sets(render):
    docs = render()
    assert options_of(only(docs, "Job"))["revision"] == revision_of(docs)
    assert revision_of(render("default", "--set", "config.unmatched=allow")) != revision_of(docs)


def test_the_registration_gate_gives_up_at_its_bound_and_says_nothing_was_registered(render, webhook):
    closed = f"https://localhost:{free_port()}"
    started = time.monotonic()
    done = run_chart_command(only(render(), "Job"), closed, webhook.ca_file, wait_seconds="1")
    assert done.returncode != 0
    assert time.monotonic() - started < 20
    assert "within 1s" in done.stderr and "was NOT registered" in done.stderr


def test_the_registration_gate_does_not_trust_a_certificate_outside_the_ca_it_is_given(
    render, webhook, admitting_webhook
):
    # The other server's self-signed certificate: a valid CA, but not the one that signed.
    done = run_chart_command(only(render(), "Job"), webhook.url, admitting_webhook.ca_file, wait_seconds="1")
    assert done.returncode != 0, "the gate accepted a server its CA does not vouch for"
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr


def test_with_an_existing_secret_the_gate_and_helm_test_trust_the_ca_bundle_of_the_values(render, webhook):
    docs = render("existing-secret")
    job, pod = only(docs, "Job"), only(docs, "Pod")
    assert "ca-bundle" in options_of(job) and "ca-file" not in options_of(job)
    done = run_chart_command(job, webhook.url, ca_b64=webhook.ca_b64, revision=revision_of(render()))
    assert done.returncode == 0, done.stderr
    assert run_chart_command(pod, webhook.url, ca_b64=webhook.ca_b64).returncode == 0


def test_helm_test_passes_against_a_webhook_that_denies_unsigned_and_pins_nothing_unverified(render, webhook):
    pod = only(render(), "Pod")
    assert container_of(pod)["command"] == ["sigwebhook", "self-test"] and "mutate" in options_of(pod)
    done = run_chart_command(pod, webhook.url, webhook.ca_file)
    assert done.returncode == 0, done.stderr
    assert "an unsigned image is denied" in done.stdout
    assert "/mutate answers and pins nothing" in done.stdout


def test_helm_test_skips_mutate_when_the_mutating_webhook_is_off(render, webhook):
    done = run_chart_command(only(render("minimal"), "Pod"), webhook.url, webhook.ca_file)
    assert done.returncode == 0, done.stderr
    assert "/mutate" not in done.stdout


def test_helm_test_fails_when_the_webhook_admits_an_unsigned_image(render, admitting_webhook):
    done = run_chart_command(only(render(), "Pod"), admitting_webhook.url, admitting_webhook.ca_file)
    assert done.returncode != 0
    assert "an unsigned image was admitted" in done.stderr
