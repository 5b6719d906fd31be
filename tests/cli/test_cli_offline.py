"""The CLI where no registry is needed: usage errors, key generation, passwords.

Argument checks run the CLI entry point in process (`run_cli_in_process`: same code, same exit codes);
whatever depends on the process itself (exit status, stderr, file modes, no terminal) runs
`python -m app` in a subprocess (`run_cli`).
"""

from __future__ import annotations

import stat
from pathlib import Path

from app.core.trust.keys import load_public_key
from app.signing.keyfiles import read_private_key
from app.signing.signingkey import SigningKey
from tests.fixtures.signing import KeyPair, run_cli, run_cli_in_process

UNREACHABLE = "127.0.0.1:9/app:v1"  # never contacted: these commands fail before any request


def test_no_command_is_a_usage_error() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_verify_without_a_key_is_a_usage_error() -> None:
    result = run_cli_in_process("verify", UNREACHABLE)
    assert result.returncode == 2
    assert "--key" in result.stderr


def test_unknown_output_format_is_a_usage_error(key_pairs: dict[str, KeyPair]) -> None:
    result = run_cli_in_process(
        "verify", "--key", str(key_pairs["ecdsa-p256"].public), "-o", "yaml", UNREACHABLE
    )
    assert result.returncode == 2


def test_bad_timeout_is_a_usage_error_naming_the_option(key_pairs: dict[str, KeyPair]) -> None:
    result = run_cli_in_process(
        "verify", "--key", str(key_pairs["ecdsa-p256"].public), "--timeout", "0", UNREACHABLE
    )
    assert result.returncode == 2
    assert "--timeout" in result.stderr


def test_missing_ca_file_is_a_usage_error(key_pairs: dict[str, KeyPair], tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = run_cli_in_process(
        "verify", "--key", str(key_pairs["ecdsa-p256"].public), "--ca-file", str(missing), UNREACHABLE
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_key_file_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("verify", "--key", str(tmp_path / "absent.pub"), UNREACHABLE)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"sigwebhook: error: key file {tmp_path / 'absent.pub'} not found"
    ]


def test_a_private_key_given_to_verify_is_refused_clearly(key_pairs: dict[str, KeyPair]) -> None:
    result = run_cli_in_process("verify", "--key", str(key_pairs["ecdsa-p256"].private), UNREACHABLE)
    assert result.returncode == 1
    assert "not a PEM public key" in result.stderr
    assert "Traceback" not in result.stderr


def test_kubernetes_key_without_a_kubeconfig_is_a_usage_error() -> None:
    result = run_cli("verify", "--key", "k8s://ops/cosign", UNREACHABLE)
    assert result.returncode == 2
    assert "--kubeconfig" in result.stderr and "Traceback" not in result.stderr


def test_malformed_kubernetes_key_reference_is_a_usage_error() -> None:
    result = run_cli_in_process("verify", "--key", "k8s://Ops/", UNREACHABLE)
    assert result.returncode == 2
    assert "k8s://namespace/name" in result.stderr


def test_bad_image_reference_for_sign_is_a_clear_error(key_pairs: dict[str, KeyPair]) -> None:
    pair = key_pairs["ecdsa-p256"]
    result = run_cli_in_process("sign", "--key", str(pair.private), "Not A Reference", env=pair.env())
    assert result.returncode == 1
    assert "invalid image reference" in result.stderr
    assert "Traceback" not in result.stderr


def test_annotation_without_equals_is_a_usage_error(key_pairs: dict[str, KeyPair]) -> None:
    pair = key_pairs["ecdsa-p256"]
    result = run_cli_in_process(
        "sign", "--key", str(pair.private), "-a", "novalue", UNREACHABLE, env=pair.env()
    )
    assert result.returncode == 2
    assert "KEY=VALUE" in result.stderr


def test_encrypted_key_without_password_or_terminal_is_a_usage_error(key_pairs: dict[str, KeyPair]) -> None:
    result = run_cli("sign", "--key", str(key_pairs["ecdsa-p256"].private), UNREACHABLE)
    assert result.returncode == 2
    assert "COSIGN_PASSWORD" in result.stderr


def test_wrong_password_is_one_clear_line(key_pairs: dict[str, KeyPair]) -> None:
    pair = key_pairs["ecdsa-p256"]
    result = run_cli("sign", "--key", str(pair.private), UNREACHABLE, env={"COSIGN_PASSWORD": "wrong"})
    assert result.returncode == 1
    assert "wrong password" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_generate_key_pair_writes_a_working_pair_only_its_owner_can_read(tmp_path: Path) -> None:
    result = run_cli("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    key = SigningKey.from_private(read_private_key(private.read_bytes(), "cosign.key", lambda: b"pw"), "k")
    trusted = load_public_key(public.read_bytes(), "cosign.pub")
    assert trusted.algorithm == "ecdsa-secp256r1"
    assert trusted.verify(key.sign(b"message"), b"message")
    assert "SHA256:" + trusted.fingerprint.split(":", 1)[1] in result.stdout


def test_generate_key_pair_honours_the_prefix(tmp_path: Path) -> None:
    result = run_cli(
        "generate-key-pair", "--output-key-prefix", "team/release", env={"COSIGN_PASSWORD": ""}, cwd=tmp_path
    )
    assert result.returncode == 1  # the directory `team` does not exist: a clear error, not a traceback
    assert "cannot write team/release.key" in result.stderr
    (tmp_path / "team").mkdir()
    result = run_cli(
        "generate-key-pair", "--output-key-prefix", "team/release", env={"COSIGN_PASSWORD": ""}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "team" / "release.key").is_file() and (tmp_path / "team" / "release.pub").is_file()


def test_generate_key_pair_refuses_to_overwrite_without_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "cosign.key").write_text("precious")
    result = run_cli("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert (tmp_path / "cosign.key").read_text() == "precious"
    forced = run_cli("generate-key-pair", "--force", env={"COSIGN_PASSWORD": "pw"}, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "cosign.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED")


def test_generate_key_pair_without_password_or_terminal_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("generate-key-pair", cwd=tmp_path)
    assert result.returncode == 2
    assert "COSIGN_PASSWORD" in result.stderr
    assert not (tmp_path / "cosign.key").exists()
