"""`sigwebhook verify-bundle` with a private Sigstore instance's trusted root, and its usage errors."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.cli.keyless import IDENTITY
from tests.fixtures.signing import run_cli, run_cli_in_process
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, encode


@pytest.fixture
def files(sigstore: PrivateSigstore, sigstore_root_file: Path, tmp_path: Path) -> dict[str, Path]:
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"what was signed\n")
    bundle = tmp_path / "artifact.sigstore.json"
    bundle.write_bytes(encode(sigstore.sign_blob(artifact.read_bytes(), sigstore.keyless())))
    return {"artifact": artifact, "root": sigstore_root_file, "bundle": bundle}


def test_a_keyless_bundle_verifies_with_its_instances_trusted_root(files: dict[str, Path]) -> None:
    done = run_cli(
        "verify-bundle",
        "--bundle",
        str(files["bundle"]),
        *IDENTITY,
        "--trusted-root",
        str(files["root"]),
        str(files["artifact"]),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Verified OK: signed by {WORKFLOW} (issuer {GITHUB})")
    assert re.search(r"transparency log https://rekor\.private\.test entry 10\d\d at ", done.stdout)


def test_the_same_bundle_fails_against_the_built_in_public_good_root(files: dict[str, Path]) -> None:
    done = run_cli_in_process(
        "verify-bundle", "--bundle", str(files["bundle"]), *IDENTITY, str(files["artifact"])
    )
    assert done.returncode == 1
    assert "no verified transparency log entry" in done.stderr


def test_a_digest_argument_is_the_artifact_unless_a_file_has_that_name(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = "sha256:" + hashlib.sha256(files["artifact"].read_bytes()).hexdigest()
    common = [
        "verify-bundle",
        "--bundle",
        str(files["bundle"]),
        *IDENTITY,
        "--trusted-root",
        str(files["root"]),
    ]
    assert run_cli_in_process(*common, digest).returncode == 0
    wrong = "sha256:" + "0" * 64
    assert run_cli_in_process(*common, wrong).returncode == 1
    (tmp_path / wrong).write_bytes(files["artifact"].read_bytes())  # a file named like a digest wins
    monkeypatch.chdir(tmp_path)
    assert run_cli_in_process(*common, wrong).returncode == 0


def test_a_key_signed_bundle_without_a_log_entry_needs_insecure_ignore_tlog(
    sigstore: PrivateSigstore, files: dict[str, Path], tmp_path: Path
) -> None:
    signing = sigstore.with_key()
    key = tmp_path / "release.pub"
    key.write_bytes(signing.public_pem)
    bundle = tmp_path / "unlogged.sigstore.json"
    bundle.write_bytes(encode(sigstore.sign_blob(files["artifact"].read_bytes(), signing, log=None)))
    common = [
        "verify-bundle",
        "--bundle",
        str(bundle),
        "--key",
        str(key),
        "--trusted-root",
        str(files["root"]),
    ]
    refused = run_cli_in_process(*common, str(files["artifact"]))
    assert refused.returncode == 1 and "no verified transparency log entry" in refused.stderr
    assert (
        run_cli_in_process(
            *common[:1], "--insecure-ignore-tlog", *common[1:], str(files["artifact"])
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--key", "k.pub", *IDENTITY], "either --key, or --certificate-identity"),
        ([], "either --key, or --certificate-identity"),
        (["--certificate-identity", WORKFLOW], "issuer/issuerRegExp: give exactly one"),
        ([*IDENTITY, "--staging"], "--staging: no staging root is built in"),
        (
            ["--certificate-identity-regexp", "(", "--certificate-oidc-issuer", GITHUB],
            "invalid regular expression",
        ),
    ],
)
def test_usage_errors_exit_2_with_a_reason(files: dict[str, Path], extra: list[str], message: str) -> None:
    done = run_cli_in_process(
        "verify-bundle", "--bundle", str(files["bundle"]), *extra, str(files["artifact"])
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_a_malformed_trusted_root_file_is_an_error_naming_the_field(
    files: dict[str, Path], tmp_path: Path
) -> None:
    document = json.loads(files["root"].read_bytes())
    del document["tlogs"][0]["publicKey"]["validFor"]["start"]
    broken = tmp_path / "broken-root.json"
    broken.write_text(json.dumps(document))
    done = run_cli_in_process(
        "verify-bundle",
        "--bundle",
        str(files["bundle"]),
        *IDENTITY,
        "--trusted-root",
        str(broken),
        str(files["artifact"]),
    )
    assert done.returncode == 1
    assert "trusted root broken-root.json: tlogs[0].publicKey.validFor: has no start" in done.stderr


def test_the_public_key_of_a_keyless_leaf_given_with_key_is_trusted_as_a_key(
    sigstore: PrivateSigstore, files: dict[str, Path], tmp_path: Path
) -> None:
    signing = sigstore.keyless()
    assert signing.certificate is not None
    key = tmp_path / "leaf.pub"
    key.write_bytes(
        signing.certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    bundle = tmp_path / "keyless.sigstore.json"
    bundle.write_bytes(encode(sigstore.sign_blob(files["artifact"].read_bytes(), signing)))
    done = run_cli_in_process(
        "verify-bundle",
        "--bundle",
        str(bundle),
        "--key",
        str(key),
        "--trusted-root",
        str(files["root"]),
        str(files["artifact"]),
    )
    assert done.returncode == 0  # a key the admin names is trusted as a key, certificate or not
