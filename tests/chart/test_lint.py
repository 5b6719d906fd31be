"""The chart and the Dockerfile pass the real linters: helm lint, the values schema, the Kubernetes
OpenAPI schemas of several versions, checkov and hadolint. Skips must carry a written reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import NAMESPACE, RELEASE, VALUE_SETS, run_helm, values_args
from tests.chart.tools import CHART, REPO_ROOT, lint_venv

pytestmark = pytest.mark.helm

# Oldest and newest schemas kubernetes-validate ships, and two between. Kubernetes 1.20 (the
# e2e API server) is covered by installing the chart into it (test_install.py).
KUBERNETES_VERSIONS = ("1.25.0", "1.29.0", "1.33.0", "1.37.0")
EXAMPLE_OBJECTS = [
    REPO_ROOT / "manifests" / "examples" / name
    for name in ("cosign-keys-secret.yaml", "pod-signed.yaml", "pod-unsigned.yaml")
]
# Kinds from CRDs, which kubernetes-validate has no schema for: cert-manager's and the Prometheus
# Operator's ServiceMonitor. The tests assert their fields themselves (test_render.py).
CRD_KINDS = {
    "cert-manager.io/v1/Certificate",
    "cert-manager.io/v1/Issuer",
    "monitoring.coreos.com/v1/ServiceMonitor",
}


@pytest.fixture(scope="session")
def lint_bin() -> Path:
    try:
        return lint_venv()
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.fail(f"could not install the lint tools (checkov, kubernetes-validate, hadolint): {exc}")


@pytest.fixture(scope="session")
def rendered_dir(helm, tmp_path_factory) -> Path:
    """Every values set rendered to its own file, as the linters read them."""
    out = tmp_path_factory.mktemp("rendered")
    for value_set in VALUE_SETS:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values_args(value_set)]
        (out / f"{value_set}.yaml").write_text(run_helm(helm, *args).stdout)
    # The committed plain manifests are linted along with the renders.
    plain = sorted((REPO_ROOT / "manifests").glob("[0-9][0-9]-*.yaml"))
    (out / "manifests.yaml").write_text("\n---\n".join(p.read_text() for p in plain))
    return out


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_strict_passes(helm, value_set):
    done = run_helm(helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, *values_args(value_set))
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm3_lints_and_renders_the_same_objects(helm3, render, value_set):
    run_helm(helm3, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, *values_args(value_set))
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values_args(value_set)]
    docs = [d for d in yaml.safe_load_all(run_helm(helm3, *args).stdout) if d]
    names = lambda objs: sorted((d["kind"], d["metadata"]["name"]) for d in objs)  # noqa: E731
    assert names(docs) == names(render(value_set))


BAD_VALUES = [
    (["--set", "webhook.failurePolicy=Sometimes"], "/webhook/failurePolicy"),
    (["--set", "webhook.timeoutSeconds=31"], "/webhook/timeoutSeconds"),
    (["--set", "webhook.namespaceSelector.mode=everywhere"], "/webhook/namespaceSelector/mode"),
    (["--set", "webhook.namespaceSelector.exclude[0]=Not_A_Namespace"], "/webhook/namespaceSelector/exclude"),
    (["--set", "securityContext.runAsUser=0"], "/securityContext/runAsUser"),
    (["--set", "replicaCount=0"], "/replicaCount"),
    (["--set", "tls.mode=selfMade"], "/tls/mode"),
    (["--set", "tls.mode=existingSecret"], "/tls/existingSecret"),
    (["--set", "image.digest=latest"], "/image/digest"),
    (["--set", "config.unmatched=maybe"], "/config/unmatched"),
    (["--set", "config.policies=null"], "policies"),
    (["--set-json", 'config.policies=[{"name":"p","images":["**"],"keys":[]}]'], "/config/policies/0/keys"),
    (
        ["--set-json", 'config.policies=[{"name":"p","images":["**"],"keys":[{"secret":"k8s://only-ns"}]}]'],
        "secret",
    ),
    (["--set-json", 'config.registries={"pullSecret":"my-secret"}'], "/config/registries/pullSecret"),
    (
        [
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k.pub","pem":"-----BEGIN"}]}]',
        ],
        "/config/policies/0/keys/0",
    ),
    (["--set-json", 'config.policies=[{"name":"no spaces","images":["**"],"keys":[{"file":"/k"}]}]'], "name"),
    (["--set-json", 'config.policies=[{"name":"p","images":["**"]}]'], "/config/policies/0"),
    (
        [
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keyless":[{"issuer":"i","issuerRegExp":"i","subject":"s"}]}]',
        ],
        "/config/policies/0/keyless/0",
    ),
    (
        ["--set-json", 'config.policies=[{"name":"p","images":["**"],"keyless":[{"issuer":"i"}]}]'],
        "/config/policies/0/keyless/0",
    ),
    (
        [
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k"}],"transparencyLog":"off"}]',
        ],
        "/config/policies/0/transparencyLog",
    ),
    (["--set-json", 'trustedRoots={"public-good":{"json":"{}"}}'], "/trustedRoots"),
    (["--set-json", 'trustedRoots={"corp":{"json":"{}","configMap":{"name":"x"}}}'], "/trustedRoots/corp"),
    (["--set", "config.logLevel=verbose"], "/config/logLevel"),
    (["--set", "config.deadlineSeconds=0"], "/config/deadlineSeconds"),
    (["--set-json", 'config.server={"port":80}'], "/config"),
    (["--set", "unknownTopLevel=1"], "unknownTopLevel"),
    (["--set", "webhook.workloads=yes"], "/webhook/workloads"),
    (["--set", "mutating.objects=workloads"], "/mutating/objects"),
    (["--set", "mutating.reinvocationPolicy=Always"], "/mutating/reinvocationPolicy"),
    (["--set", "metrics.port=8443"], "/metrics/port"),
    (["--set", "metrics.serviceMonitor.interval=often"], "/metrics/serviceMonitor/interval"),
    (["--set-json", 'config.metrics={"enabled":true}'], "/config"),
    (["--set", "config.registries.podPullSecrets=maybe"], "/config/registries/podPullSecrets"),
    (["--set", "podPullSecretsRbac.namespaces[0]=Team_A"], "/podPullSecretsRbac/namespaces"),
    (
        [
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k"}],"mode":"audit"}]',
        ],
        "/config/policies/0/mode",
    ),
    (
        [
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k"}],"pinDigest":"yes"}]',
        ],
        "/config/policies/0/pinDigest",
    ),
    (["--set", "config.verdictCache.maxEntries=0"], "/config/verdictCache/maxEntries"),
    # pinDigest: all (or true) needs /mutate to see workloads; the templates refuse the contradiction.
    (
        [
            "--set",
            "mutating.objects=pods",
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k"}],"pinDigest":"all"}]',
        ],
        "mutating.objects=pods never sends workloads",
    ),
    (
        [
            "--set",
            "mutating.objects=pods",
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k"}],"pinDigest":true}]',
        ],
        "mutating.objects=pods never sends workloads",
    ),
    (
        [
            "--set",
            "mutating.enabled=false",
            "--set-json",
            'config.policies=[{"name":"p","images":["**"],"keys":[{"file":"/k"}],"pinDigest":true}]',
        ],
        "mutating.enabled=false registers no /mutate webhook",
    ),
    # Cross-field rule the schema cannot express; the templates enforce it.
    (["--set", "config.deadlineSeconds=10"], "must be below webhook.timeoutSeconds"),
    (["--set-json", "config.deadlineSeconds=9.5"], "by at least 1 second"),
    (["--set", "webhook.timeoutSeconds=5"], "must be below webhook.timeoutSeconds"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_values_are_rejected_at_install_time(helm, args, message):
    done = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args, check=False)
    assert done.returncode != 0, f"helm accepted {args}"
    assert message in done.stderr


class Linters:
    """The slow linters (checkov three times, kubernetes-validate) started together, as they are
    independent processes; each test collects the result of its own."""

    def __init__(self, lint_bin: Path, helm: Path, rendered_dir: Path) -> None:
        env = dict(os.environ, BC_SKIP_MAPPING="TRUE", PATH=f"{helm.parent}{os.pathsep}{os.environ['PATH']}")
        checkov = [str(lint_bin / "checkov"), "--output", "json", "--skip-download"]
        # The example objects are schema-checked too (not checkov's business: they are demos).
        files = [*sorted(str(p) for p in rendered_dir.glob("*.yaml")), *map(str, EXAMPLE_OBJECTS)]
        script = Path(__file__).parent / "kube_validate.py"
        commands = {
            "kubernetes-validate": [str(lint_bin / "python"), str(script), ",".join(KUBERNETES_VERSIONS), *files],
            "checkov-rendered": [*checkov, "--directory", str(rendered_dir), "--framework", "kubernetes"],
            "checkov-chart": [
                *checkov, "--directory", str(CHART), "--framework", "helm",
                "--config-file", str(CHART / ".checkov.yaml"),
            ],
            "checkov-dockerfile": [*checkov, "--file", str(REPO_ROOT / "Dockerfile"), "--framework", "dockerfile"],
        }  # fmt: skip
        self.running = {
            name: subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, cmd in commands.items()
        }

    def output(self, name: str) -> str:
        stdout, stderr = self.running[name].communicate(timeout=600)
        assert stdout.strip(), f"{name} printed nothing: {stderr[-2000:]}"
        return stdout

    def checkov(self, name: str) -> list[dict[str, Any]]:
        parsed = json.loads(self.output(name))
        reports = parsed if isinstance(parsed, list) else [parsed]
        return [r for r in reports if "results" in r]

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def linters(lint_bin, helm, rendered_dir) -> Iterator[Linters]:
    started = Linters(lint_bin, helm, rendered_dir)
    yield started
    started.stop()


def test_every_rendered_object_matches_the_kubernetes_schemas(linters):
    report = json.loads(linters.output("kubernetes-validate"))
    assert report["errors"] == []
    assert set(report["unknown_kinds"]) <= CRD_KINDS
    assert report["checked"] >= 60 * len(KUBERNETES_VERSIONS)


def explained_skips(rendered: Path) -> set[str]:
    """Check ids skipped by a `checkov.io/skipN: CHECK=reason` annotation with a real reason."""
    found: set[str] = set()
    for path in rendered.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for key, value in ((doc or {}).get("metadata", {}).get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = str(value).partition("=")
                    assert len(reason.split()) >= 5, f"checkov skip {check} needs a written reason: {value!r}"
                    found.add(check)
    return found


def assert_clean(reports: list[dict[str, Any]], explained: set[str], minimum_passed: int) -> None:
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r["results"]["failed_checks"]
    ]
    assert failed == []
    skipped = {c["check_id"] for r in reports for c in r["results"]["skipped_checks"]}
    assert skipped <= explained, "every checkov skip needs a written reason"
    assert sum(r["summary"]["passed"] for r in reports) >= minimum_passed


def test_checkov_passes_every_rendered_values_set(linters, rendered_dir):
    assert_clean(linters.checkov("checkov-rendered"), explained_skips(rendered_dir), 500)


def test_checkov_passes_the_chart_itself(linters, rendered_dir):
    assert_clean(linters.checkov("checkov-chart"), explained_skips(rendered_dir), 200)


def dockerfile_skips() -> set[str]:
    """Check ids skipped by a `# checkov:skip=CHECK:reason` comment in the Dockerfile with a real reason."""
    found: set[str] = set()
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        skip = re.match(r"#\s*checkov:skip=(\w+):(.*)", line.strip())
        if skip:
            assert len(skip[2].split()) >= 5, f"checkov skip {skip[1]} needs a written reason: {line!r}"
            found.add(skip[1])
    return found


def test_checkov_passes_the_dockerfile(linters):
    assert_clean(linters.checkov("checkov-dockerfile"), dockerfile_skips(), 20)


def test_hadolint_passes_the_dockerfile(lint_bin):
    done = subprocess.run(
        [str(lint_bin / "hadolint"), "--failure-threshold", "info", str(REPO_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", (REPO_ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions split into build stages (the global ARGs before them left out)."""
    stages: list[list[str]] = []
    for line in dockerfile_instructions():
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def dockerfile_global_arguments() -> dict[str, str]:
    """`ARG NAME=default` lines before the first FROM (the ones a FROM line may use)."""
    arguments: dict[str, str] = {}
    for line in dockerfile_instructions():
        if line.upper().startswith("FROM "):
            break
        name, _, default = line.removeprefix("ARG ").partition("=")
        arguments[name] = default
    return arguments


def test_dockerfile_builds_a_wheel_and_runs_it_as_a_numeric_non_root_user():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build in one stage, run in another"
    defaults = dockerfile_global_arguments()
    for stage in stages:
        # the base by default (BASE_IMAGE selects another one): the official slim, pinned by digest
        base = re.sub(r"\$\{(\w+)\}", lambda arg: defaults[arg[1]], stage[0])
        assert re.match(r"FROM python:3\.11[\w.-]*-slim[\w.-]*@sha256:[0-9a-f]{64}\b", base), stage[0]
    builder, final = "\n".join(stages[0]), stages[-1]
    assert "pip wheel" in builder and "venv" in builder
    assert "pip install -c constraints/runtime.txt" in builder  # the pinned versions CI tests
    assert any(line.startswith("COPY --from=") and "/opt/venv" in line for line in final)
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]), users
    assert 'ENTRYPOINT ["sigwebhook", "serve"]' in final
    assert "EXPOSE 8443" in final


def test_dockerfile_final_stage_installs_nothing_and_removes_package_managers():
    final = "\n".join(dockerfile_stages()[-1])
    assert not re.search(r"apt-get install|apt install|pip install|gcc|build-essential|\bmake\b", final)
    assert "pip uninstall" in final and "/usr/bin/apt*" in final and "/usr/bin/dpkg*" in final
    assert "ensurepip" in final  # removed too: it would bring pip back


def test_dockerignore_sends_only_what_the_wheel_needs():
    lines = [
        ln for ln in (REPO_ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!app/"} <= set(lines)


def test_every_runtime_dependency_is_pinned_and_the_test_environment_runs_those_pins():
    from importlib import metadata

    pins = {}
    for line in (REPO_ROOT / "constraints" / "runtime.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    for requirement in metadata.requires("sigwebhook") or []:
        if "extra ==" in requirement:
            continue
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]).lower()
        assert name in pins, f"{name} is a runtime dependency without a pin in constraints/runtime.txt"
        assert metadata.version(name) == pins[name], (
            f"{name}: tests run {metadata.version(name)}, image pins {pins[name]}"
        )
