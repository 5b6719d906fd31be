"""The keyless failure matrix through the real CLI and the real registry.

Each case is an image in a real docker-registry signed by the private Sigstore instance
(`tests/support/sigstore`) in one cosign layout, with one thing wrong: another identity or issuer, a
certificate from a CA the trusted root does not list, a certificate expired at the log's integrated time,
no SCT or an SCT from an unknown CT log, a forged SET, a log entry about another artifact, an inclusion
proof to a wrong root (bundles only: the v2 annotation carries no proof), a Rekor v2 entry with no
timestamp. `sigwebhook verify` runs with one policy for all of them — the right identity and issuer and
the instance's trusted root, log entry and SCT required — and must name the stated reason; positive
controls signed the same way but intact keep it from passing by refusing everything. One more test runs
`python -m app verify` as a real process over every image at once. (Key-signed images with and without a
log entry under `required` and `ignore` are `test_cli_keyless.py`.)
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cli.keyless import verify_args
from tests.fixtures.signing import run_cli, run_cli_in_process
from tests.support.registry_server import TestRegistry
from tests.support.sigstore.fulcio import CertificateAuthority, CtLog
from tests.support.sigstore.images import REKOR_BUNDLE, push_signed, v2_signature
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, Signing

UTC = datetime.UTC
HOURS_AGO = datetime.datetime.now(UTC) - datetime.timedelta(hours=2)
AFTER_EXPIRY = int((HOURS_AGO + datetime.timedelta(minutes=30)).timestamp())  # leaves live 10 minutes


@dataclass(frozen=True)
class Case:
    """One row: the layout, how the image is signed, and the reason `verify` must give (None: verifies)."""

    layout: str
    signing: Callable[[PrivateSigstore], Signing]
    reason: str | None
    options: dict[str, Any] = field(default_factory=dict)
    edit: Callable[[PrivateSigstore, Signing], Callable[[dict[str, Any]], None]] | None = None


def keyless(**kwargs: Any) -> Callable[[PrivateSigstore], Signing]:
    return lambda sigstore: sigstore.keyless(**kwargs)


def forged_signature() -> str:
    forger = ec.generate_private_key(ec.SECP256R1())
    return base64.b64encode(forger.sign(b"forged", ec.ECDSA(hashes.SHA256()))).decode()


def forge_v2_set(_: PrivateSigstore, __: Signing) -> Callable[[dict[str, Any]], None]:
    def edit(annotations: dict[str, Any]) -> None:
        document = json.loads(annotations[REKOR_BUNDLE])
        document["SignedEntryTimestamp"] = forged_signature()
        annotations[REKOR_BUNDLE] = json.dumps(document)

    return edit


def forge_v3_set(_: PrivateSigstore, __: Signing) -> Callable[[dict[str, Any]], None]:
    def edit(bundle: dict[str, Any]) -> None:
        entry = bundle["verificationMaterial"]["tlogEntries"][0]
        entry["inclusionPromise"]["signedEntryTimestamp"] = forged_signature()

    return edit


def v2_entry_of_another_artifact(
    sigstore: PrivateSigstore, signing: Signing
) -> Callable[[dict[str, Any]], None]:
    other = v2_signature(sigstore, signing, b'{"another": "payload"}')[1][REKOR_BUNDLE]

    def edit(annotations: dict[str, Any]) -> None:
        annotations[REKOR_BUNDLE] = other

    return edit


def v3_entry_of_another_artifact(
    sigstore: PrivateSigstore, signing: Signing
) -> Callable[[dict[str, Any]], None]:
    other = sigstore.sign_statement("sha256:" + "ab" * 32, signing)["verificationMaterial"]["tlogEntries"]

    def edit(bundle: dict[str, Any]) -> None:
        bundle["verificationMaterial"]["tlogEntries"] = other

    return edit


def proof_to_a_wrong_root(sigstore: PrivateSigstore, _: Signing) -> Callable[[dict[str, Any]], None]:
    def edit(bundle: dict[str, Any]) -> None:
        proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        wrong = bytes(32)
        proof["rootHash"] = base64.b64encode(wrong).decode()
        proof["checkpoint"]["envelope"] = sigstore.rekor.checkpoint(int(proof["treeSize"]), wrong)  # signed

    return edit


NOT_TRUSTED = "which the policy does not trust"
UNTRUSTED_CA = "does not chain to a trusted Fulcio CA"
EXPIRED = "signing certificate was not valid at"
NO_SCT = "no embedded SCT"
FOREIGN_SCT = "that is not trusted at its time"
FORGED_SET = "signed entry timestamp (SET) does not verify"
OTHER_ARTIFACT = "entry records another"

CASES: dict[str, Case] = {
    # positive controls: signed as the refused cases are, left intact
    "v2 keyless with a Rekor v1 entry verifies": Case("v2", keyless(), None),
    "v3 keyless with a Rekor v1 entry verifies": Case("v3", keyless(), None),
    "v3 keyless with a Rekor v2 entry and a timestamp verifies": Case(
        "v3", keyless(), None, {"log": "v2", "tsa": True}
    ),
    # must be refused
    "v2 another identity": Case("v2", keyless(subject=WORKFLOW.replace("acme", "other")), NOT_TRUSTED),
    "v3 another identity": Case("v3", keyless(subject=WORKFLOW.replace("acme", "other")), NOT_TRUSTED),
    "v2 another issuer": Case("v2", keyless(issuer="https://accounts.google.com"), NOT_TRUSTED),
    "v3 another issuer": Case("v3", keyless(issuer="https://accounts.google.com"), NOT_TRUSTED),
    "v2 untrusted chain": Case("v2", keyless(ca=CertificateAuthority(name="rogue")), UNTRUSTED_CA),
    "v3 untrusted chain": Case("v3", keyless(ca=CertificateAuthority(name="rogue")), UNTRUSTED_CA),
    "v2 certificate expired at the log time": Case(
        "v2", keyless(when=HOURS_AGO), EXPIRED, {"integrated_time": AFTER_EXPIRY}
    ),
    "v3 certificate expired at the log time": Case(
        "v3", keyless(when=HOURS_AGO), EXPIRED, {"integrated_time": AFTER_EXPIRY}
    ),
    "v2 no SCT": Case("v2", keyless(ct=False), NO_SCT),
    "v3 no SCT": Case("v3", keyless(ct=False), NO_SCT),
    "v2 SCT from a foreign CT log": Case("v2", keyless(ct=CtLog(url="https://ct.other.test")), FOREIGN_SCT),
    "v3 SCT from a foreign CT log": Case("v3", keyless(ct=CtLog(url="https://ct.other.test")), FOREIGN_SCT),
    "v2 forged SET": Case("v2", keyless(), FORGED_SET, edit=forge_v2_set),
    "v3 forged SET": Case("v3", keyless(), FORGED_SET, edit=forge_v3_set),
    "v2 log entry about another artifact": Case("v2", keyless(), OTHER_ARTIFACT, edit=v2_entry_of_another_artifact),
    "v3 log entry about another artifact": Case("v3", keyless(), OTHER_ARTIFACT, edit=v3_entry_of_another_artifact),
    "v3 inclusion proof with a wrong root": Case(
        "v3", keyless(), "inclusion proof does not lead to the tree's root hash", edit=proof_to_a_wrong_root
    ),
    "v3 Rekor v2 entry without a timestamp": Case(
        "v3", keyless(), "no verified transparency log entry or RFC 3161 timestamp", {"log": "v2"}
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, sigstore: PrivateSigstore) -> Callable[[str], str]:
    """`images(name)` pushes and signs the image of case `name` once per module; its reference."""
    made: dict[str, str] = {}

    def image(name: str) -> str:
        if name not in made:
            case, repo = CASES[name], f"keyless-matrix/case-{len(made)}"
            signing = case.signing(sigstore)
            options = {**case.options, **({"edit": case.edit(sigstore, signing)} if case.edit else {})}
            made[name] = push_signed(
                plain_registry, repo, name.encode(), case.layout, sigstore, signing, **options
            )
        return made[name]

    return image


def check_report(case: Case, image: str, report: dict[str, Any], stderr: str) -> None:
    assert report["image"] == image and report["error"] is None
    if case.reason is None:
        assert report["verified"] is True and report["rejected"] == [] and stderr == "", stderr
        (signature,) = report["signatures"]
        assert (signature["identity"], signature["issuer"]) == (WORKFLOW, GITHUB)
        return
    assert report["verified"] is False and report["signatures"] == []
    (rejected,) = report["rejected"]
    assert rejected["format"] == ("cosign-v2-sig-tag" if case.layout == "v2" else "cosign-v3-bundle")
    assert case.reason in rejected["reason"], rejected["reason"]
    (line,) = stderr.splitlines()
    assert line.startswith(f"sigwebhook: {image}: not verified: ") and case.reason in line


@pytest.mark.parametrize("name", list(CASES))
def test_verify_admits_or_refuses_each_keyless_case_for_its_stated_reason(
    plain_registry: TestRegistry, sigstore_root_file: Path, images: Callable[[str], str], name: str
) -> None:
    case, image = CASES[name], images(name)
    result = run_cli_in_process(*verify_args(plain_registry, sigstore_root_file, [image]))
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == (0 if case.reason is None else 1), result.stderr
    (report,) = json.loads(result.stdout)
    check_report(case, image, report, result.stderr)


def test_the_real_process_gives_every_keyless_case_its_verdict_at_once(
    plain_registry: TestRegistry, sigstore_root_file: Path, images: Callable[[str], str]
) -> None:
    names = list(CASES)
    result = run_cli(*verify_args(plain_registry, sigstore_root_file, [images(name) for name in names]))
    assert "Traceback" not in result.stderr + result.stdout and result.returncode == 1
    reports = json.loads(result.stdout)
    for name, report in zip(names, reports, strict=True):
        own = [
            line for line in result.stderr.splitlines() if line.startswith(f"sigwebhook: {images(name)}: ")
        ]
        check_report(CASES[name], images(name), report, "\n".join(own))
