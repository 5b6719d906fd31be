"""`sigwebhook wait-ready` and `sigwebhook self-test` as Python: their options, the gate's retries and
bound on a manual clock, and each way a running webhook can fail a check. Answers come from a
scripted stand-in for the HTTPS calls; tests/chart/test_helper_pods.py runs both commands, as the
chart renders them, against a real `sigwebhook serve` over TLS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.cli.main import main
from app.cli.selftest import UNSIGNED_IMAGE, self_test
from app.cli.waitready import RETRY_SECONDS, wait_ready
from app.cli.webhookcalls import CheckFailed, Trust, WebhookCalls
from tests.fakes import ManualClock

URL = "https://sigwebhook.test:443"


@dataclass(frozen=True)
class ScriptedCalls(WebhookCalls):
    """Answers each call with the next of `answers` (status and body, or a `CheckFailed` to raise);
    records the paths and bodies asked for."""

    answers: list[tuple[int, bytes] | CheckFailed] = field(default_factory=list)
    asked: list[tuple[str, bytes | None]] = field(default_factory=list)

    def call(self, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.asked.append((path, body))
        answer = self.answers.pop(0)
        if isinstance(answer, CheckFailed):
            raise answer
        return answer


def scripted(*answers: tuple[int, bytes] | CheckFailed) -> ScriptedCalls:
    return ScriptedCalls(URL, Trust(), list(answers))


def ready(revision: str) -> tuple[int, bytes]:
    return 200, json.dumps({"status": "ready", "revision": revision}).encode()


def review_answer(allowed: bool, **more: object) -> tuple[int, bytes]:
    return 200, json.dumps({"response": {"uid": "x", "allowed": allowed, **more}}).encode()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["wait-ready", "--url", "http://plain:80", "--revision", "r"], "--url must be an https:// address"),
        (["self-test", "--url", "https://"], "--url must be an https:// address"),
        (
            ["wait-ready", "--url", URL, "--revision", "r", "--wait-seconds", "0"],
            "--wait-seconds must be more",
        ),
        (["self-test", "--url", URL, "--ca-bundle", "not base64!"], "--ca-bundle must be the base64 of PEM"),
        (["self-test", "--url", URL, "--ca-bundle", "aGVsbG8="], "--ca-bundle must be the base64 of PEM"),
    ],
    ids=["plain-http", "no-host", "no-wait", "bundle-not-base64", "bundle-not-pem"],
)
def test_a_bad_option_is_a_usage_error_naming_it(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_gate_retries_until_a_pod_of_the_revision_answers() -> None:
    clock = ManualClock()
    begun = clock.monotonic()
    calls = scripted(
        CheckFailed("connection refused"), (503, b"not ready"), ready("old"), (200, b"<html>"), ready("new")
    )
    wait_ready(calls, "new", 60, clock, clock.advance)
    assert [path for path, _ in calls.asked] == ["/readyz"] * 5
    assert clock.monotonic() - begun == 4 * RETRY_SECONDS


def test_the_gate_gives_up_at_its_bound_with_the_last_reason_and_says_nothing_was_registered() -> None:
    clock = ManualClock()
    begun = clock.monotonic()
    calls = scripted(*[ready("old")] * 10)
    with pytest.raises(CheckFailed) as failed:
        wait_ready(calls, "new", 5, clock, clock.advance)
    assert clock.monotonic() - begun == 5  # the last wait is cut to the bound
    assert len(calls.asked) == 3
    assert "within 5s (last error: a pod of revision old answered, not new (rollout still running?))" in str(
        failed.value
    )
    assert "was NOT registered" in str(failed.value)


def test_a_pod_that_reports_no_revision_never_opens_the_gate() -> None:
    clock = ManualClock()
    with pytest.raises(CheckFailed, match="a pod of revision unknown answered, not r1"):
        wait_ready(scripted((200, b"{}"), (200, b"[]")), "r1", 3, clock, clock.advance)


def test_a_named_ca_file_that_is_not_there_fails_the_attempt_instead_of_trusting_the_system_roots(
    tmp_path: Path,
) -> None:
    calls = WebhookCalls(URL, Trust(ca_file=tmp_path / "ca.crt"))
    with pytest.raises(CheckFailed, match=f"no CA file at {tmp_path / 'ca.crt'}"):
        calls.call("/readyz")


def test_the_self_test_asks_validate_and_mutate_about_one_unsigned_pod() -> None:
    calls = scripted((200, b"{}"), review_answer(False, status={"message": "unsigned"}), review_answer(True))
    held = self_test(calls, mutate=True)
    assert held == [
        "ready, and an unsigned image is denied: unsigned",
        "/mutate answers and pins nothing that did not verify",
    ]
    (validate, review), (mutate, same_review) = calls.asked[1:]
    assert (validate, mutate) == ("/validate", "/mutate") and review == same_review
    assert review is not None
    pod = json.loads(review)["request"]["object"]
    assert [c["image"] for c in pod["spec"]["containers"]] == [UNSIGNED_IMAGE]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([(503, b"")], "/readyz answered HTTP 503"),
        ([(200, b"{}"), review_answer(True)], "an unsigned image was admitted"),
        ([(200, b"{}"), (500, b"<html>")], "/validate answered HTTP 500 without an AdmissionReview response"),
        (
            [(200, b"{}"), (200, b'{"response": []}')],
            "/validate answered HTTP 200 without an AdmissionReview",
        ),
        (
            [(200, b"{}"), review_answer(False), review_answer(True, patch="W10=")],
            "/mutate must admit without a patch",
        ),
        ([(200, b"{}"), review_answer(False), review_answer(False)], "/mutate must admit without a patch"),
    ],
    ids=[
        "not-ready",
        "admits-unsigned",
        "validate-not-a-review",
        "response-not-an-object",
        "mutate-pins",
        "mutate-denies",
    ],
)
def test_the_self_test_fails_on_each_answer_a_sound_webhook_never_gives(
    answers: list[tuple[int, bytes]], message: str
) -> None:
    with pytest.raises(CheckFailed, match=message):
        self_test(scripted(*answers), mutate=True)
