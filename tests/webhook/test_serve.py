"""`sigwebhook serve --config FILE` as a real process: the embedded local example, strict start-up."""

from __future__ import annotations

import datetime
import json
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from app.webhook.tls import VALIDITY_DAYS, self_signed_certificate
from tests.fakes import ManualClock
from tests.fixtures.signing import REPO_ROOT, cli_env, run_cli
from tests.support.registry_server import free_port

EXAMPLE = REPO_ROOT / "examples" / "local"


def local_example(directory: Path) -> tuple[Path, int]:
    """A copy of `examples/local` on a free port (the certificate is generated inside the copy)."""
    shutil.copytree(EXAMPLE, directory, ignore=shutil.ignore_patterns("tls"))
    port = free_port()
    config = directory / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data["server"]["port"] = port
    config.write_text(yaml.safe_dump(data))
    return config, port


def wait_ready(process: subprocess.Popen[str], port: int, ca_file: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"serve exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}"
            )
        if ca_file.is_file():
            try:
                context = ssl.create_default_context(cafile=str(ca_file))
                with urllib.request.urlopen(
                    f"https://localhost:{port}/readyz", context=context, timeout=1
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.05)
    pytest.fail("serve did not become ready")


def serve(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--config", str(config)],
        env=cli_env(),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    return process.returncode, out, err


def test_the_local_example_serves_with_a_self_signed_certificate_and_prints_a_working_curl(
    tmp_path: Path,
) -> None:
    config, port = local_example(tmp_path / "local")
    process = serve(config)
    cert = tmp_path / "local" / "tls" / "tls.crt"
    try:
        wait_ready(process, port, cert)
        assert process.stderr is not None
        banner = [process.stderr.readline() for _ in range(3)]
        assert banner[0].startswith(
            f"sigwebhook: starting on https://localhost:{port} (self-signed certificate generated"
        )
        curl = shlex.split(banner[2].strip())
        assert curl[0] == "curl" and str(REPO_ROOT / "tests" / "samples" / "pod-create.json") in curl[-2]
        answer = subprocess.run(curl, capture_output=True, text=True, timeout=20, check=True)
    finally:
        code, out, _ = stop(process)
    response = json.loads(answer.stdout)["response"]
    assert response["uid"] == "67e21e93-1e2b-4a87-950c-ecddbbdaffdd" and response["allowed"] is False
    assert "busybox: no policy matches this image" in response["status"]["message"]
    assert code in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal it caught
    audit = [json.loads(line) for line in out.splitlines()]  # stdout carries only audit lines
    assert [a["uid"] for a in audit] == ["67e21e93-1e2b-4a87-950c-ecddbbdaffdd"]
    assert (cert.parent / "tls.key").stat().st_mode & 0o077 == 0


def test_the_self_signed_certificate_is_reused_and_renewed_only_near_expiry(tmp_path: Path) -> None:
    first = self_signed_certificate(tmp_path / "tls")
    first_pem = first.cert_file.read_bytes()
    again = self_signed_certificate(tmp_path / "tls")
    assert first.generated and not again.generated
    assert again.cert_file.read_bytes() == first_pem
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=VALIDITY_DAYS)
    renewed = self_signed_certificate(tmp_path / "tls", ManualClock(later))
    assert renewed.generated and renewed.cert_file.read_bytes() != first_pem
    names = x509.load_pem_x509_certificate(renewed.cert_file.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "localhost" in names.value.get_values_for_type(x509.DNSName)


def test_a_renewed_self_signed_key_is_private_even_over_a_world_readable_file(tmp_path: Path) -> None:
    first = self_signed_certificate(tmp_path / "tls")
    first.key_file.chmod(0o644)  # e.g. copied around by hand
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=VALIDITY_DAYS)
    renewed = self_signed_certificate(tmp_path / "tls", ManualClock(later))
    assert renewed.generated and renewed.key_file == first.key_file
    assert renewed.key_file.stat().st_mode & 0o777 == 0o600


def write_config(path: Path, policies: object, **extra: object) -> Path:
    path.write_text(
        yaml.safe_dump({"server": {"tls": {"selfSignedDir": "tls"}}, "policies": policies, **extra})
    )
    return path


def test_a_key_file_that_cannot_be_loaded_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "bad.pub").write_text("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    config = write_config(
        tmp_path / "c.yaml",
        [
            {
                "name": "p",
                "images": ["**"],
                "keys": [{"file": str(EXAMPLE / "cosign.pub")}, {"file": "bad.pub"}],
            }
        ],
    )
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    assert f"policies[0].keys[1].file: {tmp_path / 'bad.pub'}: not a PEM public key" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_config_stops_start_up_with_every_field_named(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.yaml",
        [{"name": "p", "images": [], "keys": [{"file": "a.pub", "secret": "k8s://ns/s"}], "threshold": 0}],
        deadlineSeconds=45,
        unmatched="maybe",
    )
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 1
    for field in (
        "deadlineSeconds",
        "unmatched",
        "policies[0].images",
        "policies[0].keys[0]",
        "policies[0].threshold",
    ):
        assert f"\n  {field}: " in result.stderr, field
    assert "Traceback" not in result.stderr
