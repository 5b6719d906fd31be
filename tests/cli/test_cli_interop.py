"""`sigwebhook verify` on signatures other tools made: connaisseur's real cosign `.sig` manifests and the
cosign-v3-style referrer layout, loaded into a real docker-registry (`../shared/interop`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.signing import run_cli
from tests.support.registry_server import TestRegistry
from tests.support.vectors import LoadedReferrer, LoadedSignatures

MULTI = "sha256:bfec161f"  # signed by alice, bob and charlie (connaisseur README)
KEYLESS = "sha256:31dc72a1"  # keyless: no key file verifies it


def _digest(loaded: LoadedSignatures, prefix: str) -> str:
    return next(str(d) for d in loaded.signed_digests if str(d).startswith(prefix))


def test_cosign_signatures_by_three_keys_are_each_found(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures, interop_dir: Path
) -> None:
    keys = interop_dir / "connaisseur"
    image = f"{plain_registry.host}/{connaisseur_signatures.repo}@{_digest(connaisseur_signatures, MULTI)}"
    args = [a for name in ("alice", "bob", "charlie") for a in ("--key", str(keys / f"{name}.key"))]
    result = run_cli("verify", *args, "--insecure-registry", plain_registry.host, "-o", "json", image)
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)
    assert sorted(s["key"] for s in report["signatures"]) == ["alice.key", "bob.key", "charlie.key"]


def test_keyless_cosign_signature_does_not_verify_with_a_key(
    plain_registry: TestRegistry, connaisseur_signatures: LoadedSignatures, interop_dir: Path
) -> None:
    image = f"{plain_registry.host}/{connaisseur_signatures.repo}@{_digest(connaisseur_signatures, KEYLESS)}"
    result = run_cli(
        "verify", "--key", str(interop_dir / "connaisseur" / "alice.key"),
        "--insecure-registry", plain_registry.host, image,
    )  # fmt: skip
    assert result.returncode == 1
    assert "rejected: cosign v2 signature" in result.stdout


def test_v3_style_referrer_verifies_with_its_key_and_not_with_another(
    plain_registry: TestRegistry, v3_referrer: LoadedReferrer, interop_dir: Path
) -> None:
    image = f"{plain_registry.host}/{v3_referrer.repo}@{v3_referrer.subject}"
    right = interop_dir / "local-skopeo-1.9.3-roundtrip" / "ecdsa-p256.pub"
    wrong = interop_dir / "connaisseur" / "alice.key"
    ok = run_cli(
        "verify", "--key", str(right), "--insecure-registry", plain_registry.host, "-o", "json", image
    )
    assert ok.returncode == 0, ok.stderr
    assert [s["format"] for s in json.loads(ok.stdout)[0]["signatures"]] == ["cosign-v3-bundle"]
    bad = run_cli("verify", "--key", str(wrong), "--insecure-registry", plain_registry.host, image)
    assert bad.returncode == 1
