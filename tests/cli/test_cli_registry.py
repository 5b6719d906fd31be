"""The real CLI against real docker-registry instances: sign, then verify, in both layouts.

Each test pushes its own image (unique repository) with skopeo, signs it by running `sigwebhook sign`
and checks `sigwebhook verify`'s exit code and report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.verification.verdicts import TLOG_NOTICE
from tests.fixtures.signing import KeyPair, run_cli, sign_image
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry, free_port

V2, V3 = "cosign-v2-sig-tag", "cosign-v3-bundle"


@pytest.fixture
def plain_image(plain_registry: TestRegistry, unique_repo: Callable[[str], str]) -> str:
    repo = unique_repo("cli/app")
    push_image(plain_registry, repo, "v1", content=repo.encode())
    return f"{plain_registry.host}/{repo}:v1"


def _plain(registry: TestRegistry) -> list[str]:
    return ["--insecure-registry", registry.host]


def _verify_json(image: str, keys: list[KeyPair], registry_args: list[str]) -> tuple[int, dict[str, object]]:
    args = [
        "verify",
        "--insecure-ignore-tlog",
        *(a for k in keys for a in ("--key", str(k.public))),
        *registry_args,
        "-o",
        "json",
        image,
    ]
    result = run_cli(*args)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, list) and len(report) == 1
    return result.returncode, report[0]


def _found(report: dict[str, object]) -> set[tuple[str, str]]:
    return {(s["format"], s["key"]) for s in report["signatures"]}  # type: ignore[attr-defined,index]


KINDS = ["ecdsa-p256", "rsa-openssl", "ed25519", "ecdsa-p384"]


@pytest.mark.parametrize("bundle", [False, True], ids=["v2", "v3"])
def test_signatures_by_every_key_kind_verify(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair], bundle: bool
) -> None:
    pairs = [key_pairs[kind] for kind in KINDS]
    for pair in pairs:
        sign_image(plain_image, pair, _plain(plain_registry), bundle=bundle)
    code, report = _verify_json(plain_image, pairs, _plain(plain_registry))
    assert code == 0
    assert report["verified"] is True and report["tlog_checked"] is False
    assert _found(report) == {(V3 if bundle else V2, pair.public.name) for pair in pairs}
    assert report["rejected"] == []
    assert str(report["digest"]).startswith("sha256:")


def test_both_layouts_and_two_keys_are_all_listed(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair]
) -> None:
    first, second = key_pairs["ecdsa-p256"], key_pairs["rsa-openssl"]
    sign_image(plain_image, first, _plain(plain_registry))
    sign_image(plain_image, second, _plain(plain_registry))
    sign_image(plain_image, first, _plain(plain_registry), bundle=True)
    code, report = _verify_json(plain_image, [first, second], _plain(plain_registry))
    assert code == 0
    assert _found(report) == {(V2, first.public.name), (V2, second.public.name), (V3, first.public.name)}


def test_sign_then_verify_in_text_names_digest_format_key_fingerprint_and_the_tlog_notice(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair]
) -> None:
    pair = key_pairs["ecdsa-p256"]
    signed = run_cli("sign", "--key", str(pair.private), *_plain(plain_registry), plain_image, env=pair.env())
    assert signed.returncode == 0, signed.stderr
    assert "is a tag, a moving target" in signed.stderr
    assert "Nothing was uploaded to a transparency log" in signed.stdout
    result = run_cli(
        "verify", "--insecure-ignore-tlog", "--key", str(pair.public), *_plain(plain_registry), plain_image
    )
    assert result.returncode == 0, result.stderr
    assert f"{plain_image}: VERIFIED" in result.stdout
    assert "digest: sha256:" in result.stdout
    assert f"signed by {pair.public.name} (SHA256:" in result.stdout
    assert TLOG_NOTICE in result.stdout
    assert result.stderr == ""


def test_signing_twice_with_one_key_keeps_one_signature(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair]
) -> None:
    pair = key_pairs["ecdsa-p256"]
    sign_image(plain_image, pair, _plain(plain_registry))
    again = sign_image(plain_image, pair, _plain(plain_registry))
    assert "Already signed" in again.stdout
    _, report = _verify_json(plain_image, [pair], _plain(plain_registry))
    assert len(report["signatures"]) == 1  # type: ignore[arg-type]


def test_unsigned_image_fails_with_the_reason_and_verbose_shows_the_requests(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair]
) -> None:
    result = run_cli(
        "-v",
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(key_pairs["ecdsa-p256"].public),
        *_plain(plain_registry),
        plain_image,
    )
    assert result.returncode == 1
    assert "no signatures found" in result.stdout
    assert f"sigwebhook: {plain_image}: not verified: no signatures found" in result.stderr
    assert f"HEAD http://{plain_registry.host}/v2/" in result.stderr  # -v logs each registry request


def test_signature_by_another_key_fails(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair]
) -> None:
    sign_image(plain_image, key_pairs["ed25519"], _plain(plain_registry))
    sign_image(plain_image, key_pairs["ed25519"], _plain(plain_registry), bundle=True)
    code, report = _verify_json(plain_image, [key_pairs["ecdsa-p256"]], _plain(plain_registry))
    assert code == 1
    assert report["verified"] is False and report["signatures"] == []
    assert {r["format"] for r in report["rejected"]} == {V2, V3}  # type: ignore[attr-defined,index]


def test_tag_moved_after_signing_fails(
    plain_registry: TestRegistry, unique_repo: Callable[[str], str], key_pairs: dict[str, KeyPair]
) -> None:
    repo = unique_repo("cli/moving")
    push_image(plain_registry, repo, "v1", content=b"reviewed")
    image = f"{plain_registry.host}/{repo}:v1"
    pair = key_pairs["ecdsa-p256"]
    sign_image(image, pair, _plain(plain_registry))
    sign_image(image, pair, _plain(plain_registry), bundle=True)
    push_image(plain_registry, repo, "v1", content=b"something else")
    code, report = _verify_json(image, [pair], _plain(plain_registry))
    assert code == 1
    assert report["verified"] is False


def test_signing_a_digest_signs_exactly_that_digest_without_a_warning(
    plain_registry: TestRegistry, unique_repo: Callable[[str], str], key_pairs: dict[str, KeyPair]
) -> None:
    repo = unique_repo("cli/pinned")
    digest = push_image(plain_registry, repo, "v1")
    pinned = f"{plain_registry.host}/{repo}@{digest}"
    signed = sign_image(pinned, key_pairs["ecdsa-p256"], _plain(plain_registry), bundle=True)
    assert "moving target" not in signed.stderr
    code, report = _verify_json(
        f"{plain_registry.host}/{repo}:v1", [key_pairs["ecdsa-p256"]], _plain(plain_registry)
    )
    assert code == 0 and report["digest"] == str(digest)


def test_one_bad_image_does_not_hide_the_others(
    plain_registry: TestRegistry, plain_image: str, key_pairs: dict[str, KeyPair]
) -> None:
    pair = key_pairs["ecdsa-p256"]
    sign_image(plain_image, pair, _plain(plain_registry))
    missing = f"{plain_registry.host}/cli/never-pushed:v1"
    absent_digest = plain_image.rsplit(":", 1)[0] + "@sha256:" + "0" * 64
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(pair.public),
        *_plain(plain_registry),
        "-o",
        "json",
        plain_image,
        "Bad Ref",
        missing,
        absent_digest,
    )
    assert result.returncode == 1
    good, bad, absent, no_manifest = json.loads(result.stdout)
    assert good["verified"] is True
    assert bad["verified"] is False and "invalid image reference" in bad["error"]
    assert absent["verified"] is False and "not found" in absent["error"]
    assert no_manifest["verified"] is False and "not found" in no_manifest["error"]
    assert len(result.stderr.strip().splitlines()) == 3
    assert "Traceback" not in result.stderr


def test_registry_that_is_down_is_one_clear_line(key_pairs: dict[str, KeyPair]) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(key_pairs["ecdsa-p256"].public),
        "--insecure-registry",
        host,
        f"{host}/app:v1",
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and host in result.stderr
    assert "Traceback" not in result.stderr


def test_sign_against_a_registry_that_is_down_is_one_clear_line(key_pairs: dict[str, KeyPair]) -> None:
    host = f"127.0.0.1:{free_port()}"
    pair = key_pairs["ecdsa-p256"]
    result = run_cli(
        "sign",
        "--key",
        str(pair.private),
        "--insecure-registry",
        host,
        f"{host}/app@sha256:" + "a" * 64,
        env=pair.env(),
    )
    assert result.returncode == 1
    assert result.stderr.startswith("sigwebhook: error:") and result.stderr.count("\n") == 1


@pytest.fixture
def tls_image(tls_registry: TestRegistry, unique_repo: Callable[[str], str]) -> str:
    repo = unique_repo("cli/private")
    push_image(tls_registry, repo, "v1", content=repo.encode())
    return f"{tls_registry.host}/{repo}:v1"


def _tls_args(registry: TestRegistry, tmp_path: Path, *, credentials: bool = True) -> list[str]:
    args = ["--ca-file", f"{registry.host}={registry.ca_file}"]
    if credentials:
        config = tmp_path / "docker-config.json"
        config.write_text(json.dumps(registry.docker_config()))
        args += ["--registry-config", str(config)]
    return args


def test_private_tls_registry_needs_credentials_and_works_with_them(
    tls_registry: TestRegistry, tls_image: str, key_pairs: dict[str, KeyPair], tmp_path: Path
) -> None:
    pair = key_pairs["ecdsa-p256"]
    anonymous = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(pair.public),
        *_tls_args(tls_registry, tmp_path, credentials=False),
        tls_image,
    )
    assert anonymous.returncode == 1
    assert "Traceback" not in anonymous.stderr and anonymous.stderr.count("\n") == 1
    sign_image(tls_image, pair, _tls_args(tls_registry, tmp_path))
    sign_image(tls_image, pair, _tls_args(tls_registry, tmp_path), bundle=True)
    code, report = _verify_json(tls_image, [pair], _tls_args(tls_registry, tmp_path))
    assert code == 0
    assert _found(report) == {(V2, pair.public.name), (V3, pair.public.name)}


def test_tls_registry_with_an_untrusted_certificate_is_a_clear_error(
    tls_registry: TestRegistry, tls_image: str, key_pairs: dict[str, KeyPair], tmp_path: Path
) -> None:
    config = tmp_path / "docker-config.json"
    config.write_text(json.dumps(tls_registry.docker_config()))
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(key_pairs["ecdsa-p256"].public),
        "--registry-config",
        str(config),
        tls_image,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_token_registry_works_end_to_end(
    token_registry: TestRegistry,
    unique_repo: Callable[[str], str],
    key_pairs: dict[str, KeyPair],
    tmp_path: Path,
) -> None:
    repo = unique_repo("cli/token")
    push_image(token_registry, repo, "v1")
    image = f"{token_registry.host}/{repo}:v1"
    pair = key_pairs["rsa-openssl"]
    assert token_registry.token_service is not None
    # the test token service speaks plain HTTP, so it is listed as insecure like a registry would be
    realm_host = token_registry.token_service.realm.split("/")[2]
    args = [*_tls_args(token_registry, tmp_path), "--insecure-registry", realm_host]
    sign_image(image, pair, args)
    sign_image(image, pair, args, bundle=True)
    code, report = _verify_json(image, [pair], args)
    assert code == 0
    assert _found(report) == {(V2, pair.public.name), (V3, pair.public.name)}
