"""The image built without Docker keeps the Dockerfile's promises, and the chart installed as the README
says becomes ready on a real node: probes pass, certificates generated, configurations registered.

Modules of this lane run in the order of their numbers: they share one cluster and one release, and
the last one uninstalls it.
"""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import PurePosixPath

import httpx
import pytest

from tests.cluster.conftest import NAMESPACE, RELEASE
from tests.cluster.tools import REGISTRY
from tests.fixtures.signing import run_cli

pytestmark = pytest.mark.cluster

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
PACKAGE_MANAGERS = ("usr/bin/apt", "usr/bin/apt-get", "usr/bin/dpkg", "usr/bin/pip", "usr/bin/pip3")


def final_files(image: str) -> tuple[dict[str, object], set[str]]:
    """The image's config and the paths of its final file system (layers applied in order, OCI
    whiteouts honoured: https://github.com/opencontainers/image-spec/blob/v1.1.0/layer.md#whiteouts)."""
    repository, digest = image.removeprefix(f"{REGISTRY}/").split("@")
    files: set[str] = set()
    with httpx.Client(base_url=f"http://{REGISTRY}/v2/{repository}", timeout=30) as registry:
        manifest = registry.get(f"/manifests/{digest}", headers={"Accept": DOCKER_MANIFEST}).json()
        config = registry.get(f"/blobs/{manifest['config']['digest']}").json()
        for layer in manifest["layers"]:
            added, removed = set(), set()
            blob = registry.get(f"/blobs/{layer['digest']}").content
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
                for entry in tar:
                    path = PurePosixPath(entry.name.removeprefix("./"))
                    if path.name == ".wh..wh..opq":
                        removed.add(f"{path.parent}/")
                    elif path.name.startswith(".wh."):
                        removed.add(str(path.parent / path.name.removeprefix(".wh.")))
                    else:
                        added.add(str(path))
            files = {
                f for f in files if not any(f == r or f.startswith(r.rstrip("/") + "/") for r in removed)
            }
            files |= added
    return config, files


def test_the_image_built_without_docker_is_signed_runs_as_non_root_and_has_no_package_manager(
    sigwebhook_image, signing_key
):
    verified = run_cli(
        "verify",
        "--key",
        str(signing_key.public),
        "--insecure-ignore-tlog",
        "--insecure-registry",
        REGISTRY,
        sigwebhook_image,
    )
    assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout + verified.stderr
    config, files = final_files(sigwebhook_image)
    assert config["config"]["User"] == "65532:65532"  # type: ignore[index]
    assert config["config"]["Entrypoint"] == ["sigwebhook", "serve"]  # type: ignore[index]
    assert "opt/venv/bin/sigwebhook" in files
    assert not [f for f in files if f in PACKAGE_MANAGERS or f.startswith("usr/bin/apt")], "apt or dpkg left"
    leftovers = [
        f for f in files if "/ensurepip/" in f or "/site-packages/pip/" in f or "python-wheels/" in f
    ]
    assert leftovers == [], leftovers[:5]
    assert not [f for f in files if "/site-packages/setuptools/" in f]


def test_the_release_installed_as_the_readme_says_becomes_ready_and_registers_its_webhooks(release):
    cluster = release.cluster
    deployment = cluster.get("-n", NAMESPACE, "deployment", RELEASE)
    assert deployment["status"].get("availableReplicas") == 1
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    pods = cluster.get("-n", NAMESPACE, "pods", "-l", selector)["items"]
    assert len(pods) == 1
    pod = pods[0]
    # the verified image, by digest, on a read-only root file system as a non-root user
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and status["imageID"].endswith(release.image.split("@")[1]), status
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # both configurations (README: named <fullname>-<namespace>) call the release's Service, fail closed
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        (hook,) = cluster.get(kind, f"{RELEASE}-{NAMESPACE}")["webhooks"]
        assert hook["clientConfig"]["service"]["name"] == RELEASE
        assert b"BEGIN CERTIFICATE" in base64.b64decode(hook["clientConfig"]["caBundle"])
        assert hook["failurePolicy"] == "Fail"
    log = cluster.kubectl_ok("-n", NAMESPACE, "logs", pod["metadata"]["name"])
    assert "Traceback" not in log, log[-2000:]
