"""Hostile AdmissionReviews over real HTTPS: strings no API server would send (lone surrogates, line
separators, control characters) never crash the answer, never break the audit line and never forge a
line of `status.message`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import AdmissionPolicy, FixedPolicySource, Policy
from app.core.trust.secretkeys import StaticKeyStore
from app.webhook.app import create_app
from app.webhook.review import Reviewer
from app.webhook.tls import ServingCertificate
from tests.core.decisions import ALICE, ScriptedVerifier
from tests.fixtures.webhook import RunningWebhook, serve_in_thread
from tests.support.auditschema import checked_audit_line
from tests.support.certs import ServerTls
from tests.webhook.reviews import review

APP = "registry.example.com/team/app:1"
PROD = Policy("prod", (ImagePattern("registry.example.com/**"),), (ALICE,))


@pytest.fixture
def hostile_webhook(webhook_tls: ServerTls) -> Iterator[tuple[RunningWebhook, list[str]]]:
    """A webhook over HTTPS whose audit lines are collected (as raw text, as a log shipper reads them)."""
    lines: list[str] = []
    reviewer = Reviewer(
        FixedPolicySource(AdmissionPolicy((PROD,))), StaticKeyStore(), ScriptedVerifier(), 2.0, lines.append
    )
    webhook = RunningWebhook("", webhook_tls.ca_file, Path("-"))
    serve_in_thread(
        webhook, create_app(reviewer), ServingCertificate(webhook_tls.cert_file, webhook_tls.key_file)
    )
    yield webhook, lines
    webhook.stop()


def _raw(body: dict[str, Any]) -> bytes:
    # json.dumps writes a lone surrogate as the escape `\ud800`, which is valid JSON text.
    return json.dumps(body).encode()


def _audit_lines_stay_whole(lines: list[str]) -> list[dict[str, Any]]:
    records = []
    for line in lines:
        encoded = line.encode("utf-8")  # a lone surrogate would raise here: the record would be lost
        assert len(encoded.decode().splitlines()) == 1
        records.append(checked_audit_line(line))  # and it is still a record its schema describes
    return records


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b["request"].update(uid="uid-\ud800"), id="lone surrogate in the uid"),
        pytest.param(
            lambda b: b["request"]["object"]["spec"]["containers"][0].update(name="app\ud800"),
            id="lone surrogate in a container name",
        ),
        pytest.param(
            lambda b: b["request"]["object"]["spec"]["containers"][0].update(image=APP + "\ud800"),
            id="lone surrogate in an image",
        ),
        pytest.param(
            lambda b: b["request"]["object"]["spec"]["containers"][0].update(name="a\u2028b\x85c\u2029"),
            id="unicode line separators in a container name",
        ),
    ],
)
def test_strings_no_api_server_sends_get_a_deny_and_one_audit_line_never_a_crash(
    hostile_webhook: tuple[RunningWebhook, list[str]], mutate: Callable[[dict[str, Any]], None]
) -> None:
    webhook, lines = hostile_webhook
    body = review([("app", APP)])
    mutate(body)
    answer = webhook.post(_raw(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["allowed"] is False
    assert answer.json()["response"]["uid"] == body["request"]["uid"]
    (record,) = _audit_lines_stay_whole(lines)
    assert record["uid"] == body["request"]["uid"] and record["decision"] == "deny"


@pytest.mark.parametrize(
    ("name", "image"),
    [
        pytest.param("app)\nspec.containers[1] (db", APP, id="newline in a container name"),
        pytest.param("app", APP + "\r\nspec.containers[1] (db) x:1: verified", id="CR LF in an image"),
        pytest.param("app\u2028spec.containers[1] (db)", APP, id="unicode line separator in a name"),
        pytest.param("app\x1b[2K\x1b[1A", APP, id="terminal escapes in a name"),
    ],
)
def test_a_name_or_image_cannot_forge_a_line_of_the_deny_message(
    hostile_webhook: tuple[RunningWebhook, list[str]], name: str, image: str
) -> None:
    webhook, _ = hostile_webhook
    answer = webhook.post(_raw(review([("app", APP), (name, image)])))
    message = answer.json()["response"]["status"]["message"]
    # One line per failing container, and only two containers: nothing else may start a line.
    assert len(message.splitlines()) == 2
    assert all(
        line.startswith(("spec.containers[0] (app) ", "spec.containers[1] ("))
        for line in message.splitlines()
    )
    assert "\x1b" not in message


def test_a_kind_not_reviewed_cannot_forge_a_line_of_the_deny_message(
    hostile_webhook: tuple[RunningWebhook, list[str]],
) -> None:
    webhook, _ = hostile_webhook
    body = review([("app", APP)])
    forged = "Secret\nspec.containers[0] (app) x:1: verified"
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": forged}
    body["request"]["object"]["kind"] = forged
    response = webhook.post(_raw(body)).json()["response"]
    assert response["allowed"] is False
    assert len(response["status"]["message"].splitlines()) == 1


HUGE = 7 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "image", "says"),
    [
        pytest.param(
            "app", "registry.example.com/team/" + "a" * HUGE, "longer than any reference can be", id="image"
        ),
        pytest.param("n" * HUGE, "other.io/x:1", "no policy matches this image", id="container name"),
    ],
)
def test_a_7_mib_string_is_denied_clearly_and_echoed_cut_over_https(
    hostile_webhook: tuple[RunningWebhook, list[str]], name: str, image: str, says: str
) -> None:
    webhook, lines = hostile_webhook
    body = review([(name, image)])
    answer = webhook.post(_raw(body))
    assert answer.status_code == 200, answer.text[:200]
    response = answer.json()["response"]
    assert response["allowed"] is False and says in response["status"]["message"]
    assert f"({HUGE + (26 if name == 'app' else 0)} characters)" in response["status"]["message"]
    assert len(answer.content) < 4_000
    (line,) = lines
    assert len(line) < 4_000 and json.loads(line)["decision"] == "deny"


def test_a_7_mib_uid_is_refused_without_being_echoed(
    hostile_webhook: tuple[RunningWebhook, list[str]],
) -> None:
    webhook, lines = hostile_webhook
    body = review([("app", APP)])
    body["request"]["uid"] = "u" * HUGE
    answer = webhook.post(_raw(body))
    assert answer.status_code == 400 and len(answer.content) < 300
    assert "request.uid is 7340032 characters" in answer.json()["error"]
    (record,) = _audit_lines_stay_whole(lines)
    assert record["decision"] == "refused" and record["uid"] is None
