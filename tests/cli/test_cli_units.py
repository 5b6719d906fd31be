"""CLI pieces in process: password sources, the last-resort error handler, and the JSON report's keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.cli import main as cli_main
from app.cli import verify as cli_verify
from app.cli.output import ImageOutcome, to_json, to_text
from app.cli.passwords import password_source
from app.cli.usage import UsageError
from app.core.digests import Digest
from app.core.references import parse_reference
from app.core.trust.identities import CertificateIdentity
from app.core.verification.log_checks import VerifiedLogEntry
from app.core.verification.time_checks import TrustedTime
from app.core.verification.verdicts import (
    TLOG_NOTICE,
    ImageVerdict,
    RejectedSignature,
    SignatureFormat,
    VerifiedSignature,
)
from tests.fixtures.signing import KeyPair, run_cli_in_process

DIGEST = Digest.of(b"manifest")


def _never(prompt: str) -> str:
    raise AssertionError(f"must not prompt: {prompt}")


def test_cosign_password_from_the_environment_wins_even_when_empty() -> None:
    assert password_source("k", environ={"COSIGN_PASSWORD": ""}, interactive=True, prompt=_never)() == b""


def test_without_environment_or_terminal_the_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="COSIGN_PASSWORD"):
        password_source("cosign.key", environ={}, interactive=False, prompt=_never)()


def test_a_new_password_is_asked_twice_and_must_match() -> None:
    answers = iter(["one", "two"])
    with pytest.raises(UsageError, match="do not match"):
        password_source("new", confirm=True, environ={}, interactive=True, prompt=lambda _: next(answers))()
    same = iter(["pw", "pw"])
    assert (
        password_source("new", confirm=True, environ={}, interactive=True, prompt=lambda _: next(same))()
        == b"pw"
    )


def test_an_unexpected_exception_is_an_internal_error_line_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_verify, "run", explode)
    assert cli_main.main(["verify", "--key", "k.pub", "a/b:c"]) == 1
    err = capsys.readouterr().err
    assert (
        err == "sigwebhook: error: internal error (RuntimeError); rerun with --debug to see the traceback\n"
    )
    assert cli_main.main(["--debug", "verify", "--key", "k.pub", "a/b:c"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err


LOGGED = VerifiedLogEntry(
    "https://rekor.example",
    "cd" * 32,
    7,
    datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    log=None,  # type: ignore[arg-type]
)
STAMPED = TrustedTime(datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC), "timestamp https://tsa.example")


def _outcomes() -> list[ImageOutcome]:
    ref = parse_reference("127.0.0.1:5000/app:v1")
    by_key = VerifiedSignature(
        SignatureFormat.COSIGN_V3_BUNDLE,
        "key:sha256:" + "ab" * 32,
        "cosign.pub",
        "referrer x",
        key_fingerprint="sha256:" + "ab" * 32,
        log_entries=(LOGGED,),
    )
    keyless = VerifiedSignature(
        SignatureFormat.COSIGN_V2_SIG_TAG,
        "keyless:…",
        "~/.*/ (issuer https://issuer.example)",
        "layer 1",
        key_fingerprint="sha256:" + "ef" * 32,
        identity=CertificateIdentity("https://ci.example/release", "https://issuer.example"),
        times=(STAMPED,),
    )
    good = ImageVerdict(
        ref,
        DIGEST,
        (by_key, keyless),
        (RejectedSignature(SignatureFormat.COSIGN_V2_SIG_TAG, "layer 0", "signature does not verify"),),
    )
    return [
        ImageOutcome("127.0.0.1:5000/app:v1", ref, good),
        ImageOutcome("Bad", error="invalid image reference 'Bad'"),
    ]


def test_json_report_has_the_documented_keys_and_values() -> None:
    good, bad = json.loads(to_json(_outcomes()))
    keys = {"image", "reference", "digest", "verified", "signatures", "rejected", "error", "tlog_checked"}
    assert set(good) == keys and set(bad) == keys
    assert good["verified"] is True and good["digest"] == str(DIGEST) and good["tlog_checked"] is True
    assert good["signatures"] == [
        {
            "format": "cosign-v3-bundle",
            "key": "cosign.pub",
            "fingerprint": "sha256:" + "ab" * 32,
            "identity": None,
            "issuer": None,
            "location": "referrer x",
            "tlog": [
                {
                    "url": "https://rekor.example",
                    "log_id": "cd" * 32,
                    "log_index": 7,
                    "integrated_time": "2025-01-02T03:04:05Z",
                }
            ],
            "timestamps": [],
        },
        {
            "format": "cosign-v2-sig-tag",
            "key": "~/.*/ (issuer https://issuer.example)",
            "fingerprint": "sha256:" + "ef" * 32,
            "identity": "https://ci.example/release",
            "issuer": "https://issuer.example",
            "location": "layer 1",
            "tlog": [],
            "timestamps": ["2025-01-02T03:04:06Z"],
        },
    ]
    assert good["rejected"] == [
        {"format": "cosign-v2-sig-tag", "location": "layer 0", "reason": "signature does not verify"}
    ]
    assert bad == {
        "image": "Bad",
        "reference": None,
        "digest": None,
        "verified": False,
        "signatures": [],
        "rejected": [],
        "error": "invalid image reference 'Bad'",
        "tlog_checked": True,
    }
    assert all(o["tlog_checked"] is False for o in json.loads(to_json(_outcomes(), tlog_required=False)))


def test_text_report_names_the_signer_log_entry_and_identity_and_the_notice_only_when_no_log_is_required() -> (
    None
):
    text = to_text(_outcomes())
    assert "127.0.0.1:5000/app:v1: VERIFIED" in text
    assert "signed by cosign.pub (SHA256:" + "ab" * 32 + ")" in text
    assert (
        "    transparency log: https://rekor.example (log ID cdcdcdcdcdcdcdcd…) index 7 "
        "integrated 2025-01-02T03:04:05Z"
    ) in text
    assert "signed by https://ci.example/release (issuer https://issuer.example, keyless)" in text
    assert "    timestamp: 2025-01-02T03:04:06Z (https://tsa.example)" in text
    assert "Bad: NOT VERIFIED" in text and "error: invalid image reference 'Bad'" in text
    assert TLOG_NOTICE not in text
    assert to_text(_outcomes(), tlog_required=False).rstrip().endswith(TLOG_NOTICE + ".")


async def test_the_signing_helper_also_works_inside_a_running_event_loop(
    key_pairs: dict[str, KeyPair],
) -> None:
    result = run_cli_in_process(
        "verify", "--key", str(key_pairs["ecdsa-p256"].public), "--timeout", "-1", "a/b:c"
    )
    assert result.returncode == 2 and "--timeout" in result.stderr
