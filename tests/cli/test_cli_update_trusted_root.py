"""`sigwebhook update-trusted-root` against TUF repositories the tests build with python-tuf
(`tests/support/tuf_repository.py`) and serve over HTTP on 127.0.0.1, laid out as Sigstore's TUF CDN.

The target is the private Sigstore instance's trusted root; once written, `verify-bundle` verifies the
instance's keyless bundles with it. Each failure (a changed target, expired or foreign metadata, a target
that is not a trusted root, an unreachable mirror) exits 1 with the reason and writes nothing.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from tests.fixtures.signing import run_cli, run_cli_in_process
from tests.support.registry_server import free_port
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, encode
from tests.support.tuf_repository import TufRepository

UTC = datetime.UTC


@pytest.fixture
def repository(tmp_path: Path, sigstore: PrivateSigstore) -> TufRepository:
    repository = TufRepository(tmp_path / "tuf")
    repository.publish("trusted_root.json", sigstore.trusted_root())
    return repository


def bootstrap(repository: TufRepository, tmp_path: Path) -> Path:
    path = tmp_path / "tuf-root.json"
    path.write_bytes(repository.root_json)
    return path


def update(mirror: str, tuf_root: Path, output: Path, *extra: str) -> tuple[int, str, str]:
    done = run_cli_in_process(
        "update-trusted-root",
        "--mirror",
        mirror,
        "--tuf-root",
        str(tuf_root),
        "--output",
        str(output),
        *extra,
    )
    assert "Traceback" not in done.stderr + done.stdout
    return done.returncode, done.stdout, done.stderr


def test_the_trusted_root_is_fetched_through_tuf_and_then_verifies_the_instances_bundles(
    repository: TufRepository, sigstore: PrivateSigstore, tmp_path: Path
) -> None:
    output = tmp_path / "trusted_root.json"
    with repository.serve() as mirror:
        done = run_cli(
            "update-trusted-root", "--mirror", mirror, "--tuf-root", str(bootstrap(repository, tmp_path)),
            "--output", str(output),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert output.read_bytes() == sigstore.trusted_root()
    assert f"Trusted root written to {output}" in done.stdout
    assert "2 transparency logs, 1 certificate authorities, 1 CT logs, 1 timestamp authorities" in done.stdout
    assert "root version 1, targets version 2" in done.stdout
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"release\n")
    bundle = tmp_path / "artifact.sigstore.json"
    bundle.write_bytes(encode(sigstore.sign_blob(artifact.read_bytes(), sigstore.keyless())))
    verified = run_cli_in_process(
        "verify-bundle", "--bundle", str(bundle), "--certificate-identity", WORKFLOW,
        "--certificate-oidc-issuer", GITHUB, "--trusted-root", str(output), str(artifact),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr


def test_root_rotations_are_followed_from_an_older_tuf_root(
    repository: TufRepository, sigstore: PrivateSigstore, tmp_path: Path
) -> None:
    first = bootstrap(repository, tmp_path)
    repository.rotate_root()
    repository.rotate_root()  # the first root key is no longer trusted: only the chain of roots leads here
    newer = sigstore.trusted_root(log_end="2099-01-01T00:00:00Z")
    repository.publish("trusted_root.json", newer)
    with repository.serve() as mirror:
        code, stdout, stderr = update(mirror, first, tmp_path / "out.json")
    assert code == 0, stderr
    assert "root version 3, targets version 3" in stdout
    assert (tmp_path / "out.json").read_bytes() == newer


def _change_target(repository: TufRepository) -> None:
    (target,) = (repository.directory / "targets").glob("*.trusted_root.json")
    target.write_bytes(target.read_bytes().replace(b"private-tsa", b"private-tsb"))


def _expire_timestamp(repository: TufRepository) -> None:
    yesterday = (datetime.datetime.now(UTC) - datetime.timedelta(days=1)).replace(microsecond=0)
    (target,) = (repository.directory / "targets").glob("*.trusted_root.json")
    repository.publish("trusted_root.json", target.read_bytes(), expires=yesterday)  # the same root


def _not_a_trusted_root(repository: TufRepository) -> None:
    repository.publish("trusted_root.json", json.dumps({"mediaType": "text/plain"}).encode())


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_change_target, "is not the file its signed metadata lists"),
        (_expire_timestamp, "does not verify: timestamp.json is expired"),
        (_not_a_trusted_root, "TUF target 'trusted_root.json' is not a usable trusted root"),
    ],
    ids=["a changed target", "an expired timestamp", "a target that is not a trusted root"],
)
def test_a_repository_that_does_not_verify_writes_nothing_and_keeps_the_old_file(
    repository: TufRepository, tmp_path: Path, tamper: object, reason: str
) -> None:
    tuf_root = bootstrap(repository, tmp_path)
    tamper(repository)  # type: ignore[operator]
    output = tmp_path / "trusted_root.json"
    output.write_bytes(b"the root in use")
    with repository.serve() as mirror:
        code, stdout, stderr = update(mirror, tuf_root, output)
    assert code == 1 and stdout == "" and reason in stderr, stderr
    assert output.read_bytes() == b"the root in use"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trusted_root.json", "tuf", "tuf-root.json"]


def test_the_tuf_root_of_another_repository_is_not_trusted(
    repository: TufRepository, sigstore: PrivateSigstore, tmp_path: Path
) -> None:
    other = TufRepository(tmp_path / "other")
    other.publish("trusted_root.json", sigstore.trusted_root())
    with repository.serve() as mirror:
        code, _, stderr = update(mirror, bootstrap(other, tmp_path), tmp_path / "out.json")
    assert code == 1 and "TUF metadata from" in stderr and "does not verify" in stderr, stderr
    assert not (tmp_path / "out.json").exists()


def test_an_unreachable_mirror_or_a_missing_target_fails_with_the_reason(
    repository: TufRepository, tmp_path: Path
) -> None:
    tuf_root = bootstrap(repository, tmp_path)
    code, _, stderr = update(f"http://127.0.0.1:{free_port()}", tuf_root, tmp_path / "out.json")
    assert code == 1 and "cannot download from the TUF mirror" in stderr, stderr
    with repository.serve() as mirror:
        code, _, stderr = update(mirror, tuf_root, tmp_path / "out.json", "--target", "other.json")
    assert code == 1 and "has no target 'other.json'" in stderr, stderr
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            ["--mirror", "ftp://mirror.example", "--tuf-root", "x", "--output", "o"],
            2,
            "must be an http(s) URL",
        ),
        (
            ["--mirror", "https://mirror.example", "--tuf-root", "missing.json", "--output", "o"],
            1,
            "not found",
        ),
        (["--mirror", "https://mirror.example", "--output", "o"], 2, "--tuf-root"),
    ],
)
def test_usage_errors_and_a_missing_tuf_root_are_reported_before_any_download(
    arguments: list[str], code: int, message: str
) -> None:
    done = run_cli_in_process("update-trusted-root", *arguments)
    assert done.returncode == code and message in done.stderr, done.stderr
