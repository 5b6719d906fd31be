"""Keyless policies over HTTPS: the real webhook, the real registry, signatures by a private Sigstore.

The private instance (`tests/support/sigstore`) signs images in both cosign layouts and writes its
trusted root to a file, which the config names under `trustedRoots`; a policy trusts one identity
under that root. The webhook reads nothing but the registry and that file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.webhook import RunningWebhook
from tests.support.registry_server import TestRegistry
from tests.support.sigstore.images import push_signed
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore
from tests.webhook.reviews import review

OTHER_WORKFLOW = "https://github.com/other/app/.github/workflows/release.yml@refs/heads/main"


def _config(registry: TestRegistry, root_file: Path, **policy: Any) -> dict[str, Any]:
    return {
        "registries": {"insecure": [registry.host]},
        "trustedRoots": {"private": {"file": str(root_file)}},
        "policies": [
            {
                "name": "ci-built",
                "images": [f"{registry.host}/keyless/**"],
                "keyless": [{"issuer": GITHUB, "subject": WORKFLOW, "trustedRoot": "private"}],
                **policy,
            }
        ],
    }


def _signed(
    registry: TestRegistry, sigstore: PrivateSigstore, repo: str, layout: str, subject: str = WORKFLOW
) -> str:
    return push_signed(
        registry, f"keyless/{repo}", repo.encode(), layout, sigstore, sigstore.keyless(subject=subject)
    )


@pytest.mark.parametrize("layout", ["v2", "v3"])
def test_a_keyless_policy_admits_the_right_identitys_image_and_audits_its_log_entry(
    plain_registry: TestRegistry,
    sigstore: PrivateSigstore,
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    sigstore_root_file: Path,
    layout: str,
) -> None:
    image = _signed(plain_registry, sigstore, f"right-{layout}", layout)
    webhook = start_webhook(_config(plain_registry, sigstore_root_file))
    answer = webhook.post(review([("app", image)])).json()["response"]
    assert answer["allowed"] is True, answer
    (record,) = webhook.audit
    (signature,) = record["images"][0]["signatures"]
    assert (signature["identity"], signature["issuer"]) == (WORKFLOW, GITHUB)
    (entry,) = signature["tlog"]
    assert entry["log_id"] == sigstore.rekor.log_id.hex() and entry["integrated_time"] is not None
    assert record["images"][0]["reason"] == f"verified by {WORKFLOW} (issuer {GITHUB})"


@pytest.mark.parametrize("layout", ["v2", "v3"])
def test_a_keyless_policy_denies_another_identitys_image_naming_the_identity(
    plain_registry: TestRegistry,
    sigstore: PrivateSigstore,
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    sigstore_root_file: Path,
    layout: str,
) -> None:
    image = _signed(plain_registry, sigstore, f"other-{layout}", layout, subject=OTHER_WORKFLOW)
    webhook = start_webhook(_config(plain_registry, sigstore_root_file))
    answer = webhook.post(review([("app", image)])).json()["response"]
    assert answer["allowed"] is False
    assert (
        'no signature verified by the keyless identities of policy "ci-built" (1 signature(s) found: '
        f"signed by {OTHER_WORKFLOW} (issuer"
    ) in answer["status"]["message"]


def test_the_public_good_root_does_not_vouch_for_a_private_instances_signatures(
    plain_registry: TestRegistry,
    sigstore: PrivateSigstore,
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    sigstore_root_file: Path,
) -> None:
    image = _signed(plain_registry, sigstore, "wrong-root", "v2")
    config = _config(plain_registry, sigstore_root_file)
    config["policies"][0]["keyless"][0]["trustedRoot"] = "public-good"
    webhook = start_webhook(config)
    answer = webhook.post(review([("app", image)])).json()["response"]
    # Its log is not in public-good: no entry is verified, and one is required.
    assert answer["allowed"] is False
    assert "no verified transparency log entry" in answer["status"]["message"]
