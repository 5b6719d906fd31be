"""`sigwebhook verify` with cosign's keyless and log flags, against images in the real registry signed
by a private Sigstore instance (both layouts), through the real command-line process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.core.verification.verdicts import TLOG_NOTICE
from tests.cli.keyless import IDENTITY, verify_args
from tests.fixtures.signing import run_cli
from tests.support.registry_server import TestRegistry
from tests.support.sigstore.images import push_signed
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, Signing


def _image(
    registry: TestRegistry,
    sigstore: PrivateSigstore,
    name: str,
    layout: str,
    signing: Signing,
    **options: Any,
) -> str:
    return push_signed(registry, f"cli-keyless/{name}", name.encode(), layout, sigstore, signing, **options)


def _verify(registry: TestRegistry, root: Path, image: str, *flags: str) -> tuple[int, dict[str, Any], str]:
    done = run_cli(*verify_args(registry, root, [image], flags))
    assert "Traceback" not in done.stderr
    (report,) = json.loads(done.stdout)
    return done.returncode, report, done.stderr


@pytest.mark.parametrize("layout", ["v2", "v3"])
def test_a_keyless_image_verifies_with_its_identity_and_names_the_log_entry(
    plain_registry: TestRegistry, sigstore: PrivateSigstore, sigstore_root_file: Path, layout: str
) -> None:
    image = _image(plain_registry, sigstore, f"ok-{layout}", layout, sigstore.keyless())
    code, report, _ = _verify(plain_registry, sigstore_root_file, image, *IDENTITY)
    assert code == 0 and report["verified"] is True and report["tlog_checked"] is True
    (signature,) = report["signatures"]
    assert (signature["identity"], signature["issuer"]) == (WORKFLOW, GITHUB)
    (entry,) = signature["tlog"]
    assert entry["url"] == sigstore.rekor.url and entry["log_id"] == sigstore.rekor.log_id.hex()
    assert entry["integrated_time"].endswith("Z") and isinstance(entry["log_index"], int)


@pytest.mark.parametrize(
    "flags",
    [
        ("--certificate-identity", WORKFLOW.replace("acme", "other"), "--certificate-oidc-issuer", GITHUB),
        ("--certificate-identity-regexp", "https://github\\.com/acme/", "--certificate-oidc-issuer", GITHUB),
        ("--certificate-identity", WORKFLOW, "--certificate-oidc-issuer-regexp", "https://token"),
    ],
    ids=["another identity", "a pattern matching only a prefix", "an issuer pattern matching a prefix"],
)
def test_another_identity_or_a_pattern_that_does_not_match_the_whole_value_is_refused(
    plain_registry: TestRegistry, sigstore: PrivateSigstore, sigstore_root_file: Path, flags: tuple[str, ...]
) -> None:
    image = _image(plain_registry, sigstore, "identity", "v2", sigstore.keyless())
    code, report, stderr = _verify(plain_registry, sigstore_root_file, image, *flags)
    assert code == 1 and report["signatures"] == []
    assert "which the policy does not trust" in report["rejected"][0]["reason"]
    assert f"{image}: not verified" in stderr


def test_a_whole_value_pattern_verifies(
    plain_registry: TestRegistry, sigstore: PrivateSigstore, sigstore_root_file: Path
) -> None:
    image = _image(plain_registry, sigstore, "pattern", "v3", sigstore.keyless())
    flags = (
        "--certificate-identity-regexp",
        r"https://github\.com/acme/.*",
        "--certificate-oidc-issuer",
        GITHUB,
    )
    assert _verify(plain_registry, sigstore_root_file, image, *flags)[0] == 0


@pytest.mark.parametrize("layout", ["v2", "v3"])
def test_a_key_signature_needs_a_log_entry_unless_the_log_is_ignored(
    plain_registry: TestRegistry,
    sigstore: PrivateSigstore,
    sigstore_root_file: Path,
    tmp_path: Path,
    layout: str,
) -> None:
    signing = sigstore.with_key()
    key = tmp_path / "key.pub"
    key.write_bytes(signing.public_pem)
    logged = _image(plain_registry, sigstore, f"logged-{layout}", layout, signing)
    unlogged = _image(
        plain_registry,
        sigstore,
        f"unlogged-{layout}",
        layout,
        signing,
        **({"log": False} if layout == "v2" else {"log": None}),
    )
    code, report, _ = _verify(plain_registry, sigstore_root_file, logged, "--key", str(key))
    assert code == 0 and report["signatures"][0]["tlog"][0]["url"] == sigstore.rekor.url
    code, report, _ = _verify(plain_registry, sigstore_root_file, unlogged, "--key", str(key))
    assert code == 1 and report["rejected"][0]["reason"].startswith("no verified transparency log entry")
    code, report, _ = _verify(
        plain_registry, sigstore_root_file, unlogged, "--key", str(key), "--insecure-ignore-tlog"
    )
    assert code == 0 and report["tlog_checked"] is False and report["signatures"][0]["tlog"] == []
    text = run_cli(
        "verify", "--key", str(key), "--insecure-ignore-tlog", "--trusted-root", str(sigstore_root_file),
        "--insecure-registry", plain_registry.host, unlogged,
    )  # fmt: skip
    assert text.returncode == 0 and TLOG_NOTICE in text.stdout


def test_a_keyless_certificate_without_an_sct_needs_insecure_ignore_sct(
    plain_registry: TestRegistry, sigstore: PrivateSigstore, sigstore_root_file: Path
) -> None:
    image = _image(plain_registry, sigstore, "no-sct", "v2", sigstore.keyless(ct=False))
    code, report, _ = _verify(plain_registry, sigstore_root_file, image, *IDENTITY)
    assert code == 1 and "no embedded SCT" in report["rejected"][0]["reason"]
    assert _verify(plain_registry, sigstore_root_file, image, *IDENTITY, "--insecure-ignore-sct")[0] == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "give either --key, or --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]"),
        (("--certificate-identity", WORKFLOW), "--certificate-oidc-issuer"),
        (("--key", "k.pub", "--certificate-identity", WORKFLOW), "give either --key"),
        (
            ("--certificate-identity-regexp", "(", "--certificate-oidc-issuer", GITHUB),
            "invalid regular expression",
        ),
    ],
)
def test_flags_that_do_not_name_one_signer_are_a_usage_error(flags: tuple[str, ...], message: str) -> None:
    done = run_cli("verify", *flags, "127.0.0.1:9/a:v1")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
