"""`sigwebhook verify` on signatures other tools made: connaisseur's real cosign `.sig` manifests (key-signed,
and one keyless signature logged in the public-good Rekor, verified with the built-in production root), the `.sig`
manifests upstream skopeo 1.9.3 wrote (ECDSA, RSA and Ed25519 signers) and the cosign-v3-style referrer
layout, loaded into a real docker-registry (`tests/assets/interop`), each with its README's expected result."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.signing import run_cli
from tests.support.registry_server import TestRegistry
from tests.support.vectors import LoadedReferrer, LoadedSignatures, LoadedSkopeo

MULTI = "sha256:bfec161f"  # signed by alice, bob and charlie (connaisseur README)
ALICE_ONLY = "sha256:071bf7a9"  # signed by alice only
KEYLESS = "sha256:31dc72a1"  # keyless: no key file verifies it


def _digest(loaded: LoadedSignatures, prefix: str) -> str:
    return next(str(d) for d in loaded.signed_digests if str(d).startswith(prefix))


def test_cosign_signatures_by_three_keys_are_each_found(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures, interop_dir: Path
) -> None:
    keys = interop_dir / "connaisseur"
    image = f"{plain_registry.host}/{connaisseur_signatures.repo}@{_digest(connaisseur_signatures, MULTI)}"
    args = [a for name in ("alice", "bob", "charlie") for a in ("--key", str(keys / f"{name}.key"))]
    result = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        *args,
        "--insecure-registry",
        plain_registry.host,
        "-o",
        "json",
        image,
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)
    assert sorted(s["key"] for s in report["signatures"]) == ["alice.key", "bob.key", "charlie.key"]


def test_keyless_cosign_signature_does_not_verify_with_a_key(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures, interop_dir: Path
) -> None:
    image = f"{plain_registry.host}/{connaisseur_signatures.repo}@{_digest(connaisseur_signatures, KEYLESS)}"
    result = run_cli(
        "verify", "--insecure-ignore-tlog", "--key", str(interop_dir / "connaisseur" / "alice.key"),
        "--insecure-registry", plain_registry.host, image,
    )  # fmt: skip
    assert result.returncode == 1
    assert "rejected: cosign v2 signature" in result.stdout


def test_the_keyless_cosign_signature_verifies_for_its_identity_with_the_built_in_root_and_no_flag_waived(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures
) -> None:
    image = f"{plain_registry.host}/{connaisseur_signatures.repo}@{_digest(connaisseur_signatures, KEYLESS)}"
    verify = ["verify", "--insecure-registry", plain_registry.host, "-o", "json"]
    issuer = ["--certificate-oidc-issuer", "https://github.com/login/oauth"]
    ok = run_cli(*verify, "--certificate-identity", "philipp.belitz@securesystems.de", *issuer, image)
    assert ok.returncode == 0, ok.stderr
    ((signature,),) = [r["signatures"] for r in json.loads(ok.stdout)]
    assert signature["identity"] == "philipp.belitz@securesystems.de"
    assert [(e["url"], e["log_index"]) for e in signature["tlog"]] == [
        ("https://rekor.sigstore.dev", 98235800)
    ]
    other = run_cli(*verify, "--certificate-identity", "someone@securesystems.de", *issuer, image)
    assert (
        other.returncode == 1
        and "which the policy does not trust" in json.loads(other.stdout)[0]["rejected"][0]["reason"]
    )


def test_v3_style_referrer_verifies_with_its_key_and_not_with_another(
    plain_registry: TestRegistry, v3_referrer: LoadedReferrer, interop_dir: Path
) -> None:
    image = f"{plain_registry.host}/{v3_referrer.repo}@{v3_referrer.subject}"
    right = interop_dir / "local-skopeo-1.9.3-roundtrip" / "ecdsa-p256.pub"
    wrong = interop_dir / "connaisseur" / "alice.key"
    ok = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(right),
        "--insecure-registry",
        plain_registry.host,
        "-o",
        "json",
        image,
    )
    assert ok.returncode == 0, ok.stderr
    assert [s["format"] for s in json.loads(ok.stdout)[0]["signatures"]] == ["cosign-v3-bundle"]
    bad = run_cli(
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(wrong),
        "--insecure-registry",
        plain_registry.host,
        image,
    )
    assert bad.returncode == 1


def test_the_alice_only_image_verifies_with_alice_and_not_with_the_key_nothing_was_signed_with(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures, interop_dir: Path
) -> None:
    keys = interop_dir / "connaisseur"
    image = (
        f"{plain_registry.host}/{connaisseur_signatures.repo}@{_digest(connaisseur_signatures, ALICE_ONLY)}"
    )
    verify = ["verify", "--insecure-ignore-tlog", "--insecure-registry", plain_registry.host, "-o", "json"]
    ok = run_cli(*verify, "--key", str(keys / "alice.key"), image)
    assert ok.returncode == 0, ok.stderr
    assert [s["key"] for s in json.loads(ok.stdout)[0]["signatures"]] == ["alice.key"]
    for other in ("bob.key", "charlie.key", "default.key"):  # the README: default.key signed nothing
        refused = run_cli(*verify, "--key", str(keys / other), image)
        assert refused.returncode == 1, other
        (report,) = json.loads(refused.stdout)
        assert report["signatures"] == [] and report["rejected"], other


def test_skopeo_signatures_verify_each_with_its_own_key_and_no_other(
    plain_registry: TestRegistry, skopeo_signatures: LoadedSkopeo, interop_dir: Path
) -> None:
    keys = interop_dir / "local-skopeo-1.9.3-roundtrip"
    demo, demo_ed = (f"{plain_registry.host}/{r}@{skopeo_signatures.image}" for r in skopeo_signatures.repos)
    verify = ["verify", "--insecure-ignore-tlog", "--insecure-registry", plain_registry.host, "-o", "json"]
    expected = {  # README: demo layer 0 ECDSA, layer 1 RSA PKCS#1 v1.5; demo-ed layer 0 pure Ed25519
        (demo, "ecdsa-p256.pub"): True,
        (demo, "rsa-2048.pub"): True,
        (demo, "ed25519.pub"): False,
        (demo_ed, "ed25519.pub"): True,
        (demo_ed, "ecdsa-p256.pub"): False,
        (demo_ed, "rsa-2048.pub"): False,
    }
    for (image, key), verifies in expected.items():
        done = run_cli(*verify, "--key", str(keys / key), image)
        assert done.returncode == (0 if verifies else 1), (image, key, done.stdout, done.stderr)
        (report,) = json.loads(done.stdout)
        assert report["digest"] == str(skopeo_signatures.image)
        assert [s["key"] for s in report["signatures"]] == ([key] if verifies else [])
        assert all(s["format"] == "cosign-v2-sig-tag" for s in report["signatures"])
    both = run_cli(*verify, "--key", str(keys / "ecdsa-p256.pub"), "--key", str(keys / "rsa-2048.pub"), demo)
    assert sorted(s["key"] for s in json.loads(both.stdout)[0]["signatures"]) == [
        "ecdsa-p256.pub",
        "rsa-2048.pub",
    ]
