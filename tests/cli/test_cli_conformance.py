"""Every sigstore-conformance `bundle-verify` case through `sigwebhook verify-bundle`, as the suite drives it.

The cases are vendored in `tests/assets/sigstore-conformance` (source and licence in its README). As the
suite's `test/client.py` does, each case runs twice — with the artifact's path and with its `sha256:`
digest — through the installed console script, with `--key key.pub` when the case has one, else the
case's identity and issuer, and `--trusted-root` when the case ships a root (else the built-in
public-good root). Passing cases must exit 0; `_fail` cases must exit non-zero for the reason the
table below names (so a case cannot pass by failing for an unrelated reason, such as a crash).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

CASES = Path(__file__).parents[1] / "assets" / "sigstore-conformance" / "bundle-verify"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"

# Why each `_fail` case fails: a fragment of sigwebhook's reason.
REASONS = {
    "bundle-empty-certificate-chain_fail": "x509CertificateChain has no certificates",
    "bundle-from-wrong-instance_fail": "no verified transparency log entry",  # staging log: not in prod root
    "bundle-invalid-base64-signature_fail": "signature is not valid base64",
    "bundle-malformed-json_fail": "bundle is not JSON",
    "bundle-negative-log-index_fail": "logIndex is not an integer",
    "bundle-unknown-version_fail": "unsupported bundle media type",
    "bundle-with-root-cert_fail": "chain contains a root certificate",
    "checkpoint-bad-keyhint_fail": "checkpoint carries no signature by the log",
    "checkpoint-wrong-roothash_fail": "checkpoint is for another tree",
    "dsse-invalid-sig_fail": "signature does not verify with the signing certificate's key",
    "dsse-mismatch-envelope_fail": "entry records another signature",
    "dsse-mismatch-sig_fail": "entry records another signature",
    "inclusion-proof-corrupted-hash_fail": "inclusion proof does not lead to the tree's root hash",
    "incorrect-public-key_fail": "entry records another key or certificate",
    # The integrated time is after the leaf's notAfter (docs/formats.md#verification-times): the certificate was not
    # valid when the log says the signature was made.
    "integrated-time-in-future_fail": "signing certificate was not valid at 2026-05-07T15:34:11Z",
    "intoto-expired-certificate_fail": "signing certificate was not valid",
    # The logged intoto 0.0.2 signature is not base64 of the base64 signature text, as Rekor's schema
    # stores it: the body cannot be read as an entry about this envelope.
    "intoto-log-entry-mismatch_fail": "malformed intoto 0.0.2 log entry body",
    "intoto-missing-inclusion-proof_fail": "no inclusion proof (required since bundle v0.2)",
    "intoto-set-outside-signing-cert-validity_fail": "signing certificate was not valid",
    "intoto-tsa-timestamp-outside-cert-validity_fail": "at timestamp",
    "invalid-checkpoint-signature_fail": "checkpoint signature by the log does not verify",
    "invalid-ct-key_fail": "no embedded SCT verifies with a trusted CT log",
    # The proof carries no checkpoint, which every client requires; its hashes do not lead to its root
    # either (tests/core/test_transparency_proofs.py checks that separately).
    "invalid-inclusion-proof_fail": "inclusion proof lacks its checkpoint",
    "managed-key-no-key_fail": "signed with a key, but the policy trusts only keyless identities",
    # Its key.pub is not a valid P-256 point ("…wrongkey=="): refused before any signature is checked.
    "managed-key-wrong-key_fail": "key.pub: not a PEM public key",
    "message-digest-mismatch_fail": "message digest is not the artifact's digest",
    "rekor2-checkpoint-missing-log-signature_fail": "checkpoint has no signature block",
    "rekor2-checkpoint-missing-origin_fail": "checkpoint needs an origin, a tree size and a root hash",
    "rekor2-checkpoint-missing-root-hash_fail": "checkpoint needs an origin, a tree size and a root hash",
    "rekor2-checkpoint-missing-size_fail": "checkpoint needs an origin, a tree size and a root hash",
    "rekor2-checkpoint-no-matching-signature_fail": "checkpoint origin is not the log's host",
    "rekor2-dsse-invalid-sig_fail": "signature does not verify with the signing certificate's key",
    "rekor2-dsse-mismatch-envelope_fail": "entry records another signature",
    "rekor2-dsse-mismatch-sig_fail": "entry records another signature",
    "rekor2-no-inclusion-proof_fail": "no inclusion proof",
    "rekor2-no-timestamp_fail": "no verified transparency log entry or RFC 3161 timestamp",
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": "outside the authority's validity",
    "rekor2-timestamp-outside-tsa-cert-validity_fail": "signing certificate was not valid at 2025-08-07",
    "rekor2-timestamp-payload-mismatch_fail": "timestamp is for other bytes than this signature",
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": "not signed by the timestamp authority",
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": "not signed by the timestamp authority",
    "rekor2-timestamp-with-incorrect-time_fail": "signing certificate was not valid at 2025-07-15",
    "set-invalid-signature_fail": "signed entry timestamp (SET) does not verify",
    "signature-mismatch_fail": "signature does not verify with the signing certificate's key",
    "trust-root-tlog-missing-validity-start_fail": "validFor: has no start",
    "wrong-hashedrekord-artifact_fail": "entry records another signature",
    "wrong-hashedrekord-cert-and-sig_fail": "entry records another signature",
    "wrong-hashedrekord-entry_fail": "entry records another signature",
    "wrong-material_fail": "message digest is not the artifact's digest",
}


def _cases() -> list[Path]:
    return sorted(path for path in CASES.iterdir() if path.is_dir())


def _arguments(case: Path, by_digest: bool) -> list[str]:
    """The arguments the suite's `SigstoreClient.build_verify_args` builds, in its order."""
    args = ["verify-bundle", "--bundle", str(case / "bundle.sigstore.json")]
    if (case / "key.pub").exists():
        args += ["--key", str(case / "key.pub")]
    else:
        identity = (case / "identity").read_text().strip() if (case / "identity").exists() else IDENTITY
        issuer = (case / "issuer").read_text().strip() if (case / "issuer").exists() else ISSUER
        args += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
    if (case / "trusted_root.json").exists():
        args += ["--trusted-root", str(case / "trusted_root.json")]
    artifact = case / "artifact" if (case / "artifact").exists() else CASES / "a.txt"
    args.append(f"sha256:{hashlib.sha256(artifact.read_bytes()).hexdigest()}" if by_digest else str(artifact))
    return args


def test_the_vendored_suite_has_all_seventy_cases_and_a_reason_for_each_failure() -> None:
    names = [case.name for case in _cases()]
    assert len(names) == 70
    assert sorted(n for n in names if n.endswith("_fail")) == sorted(REASONS)


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case.name)
@pytest.mark.parametrize("by_digest", [False, True], ids=["path", "digest"])
def test_conformance_case_gives_the_expected_result(case: Path, by_digest: bool, tmp_path: Path) -> None:
    result = subprocess.run(
        ["sigwebhook", *_arguments(case, by_digest)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # the suite runs clients from a scratch workspace
        timeout=120,
    )
    if case.name.endswith("_fail"):
        assert result.returncode == 1, result.stdout + result.stderr
        assert REASONS[case.name] in result.stderr
        assert "internal error" not in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Verified OK: signed by ")
