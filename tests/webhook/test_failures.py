"""Failures over HTTPS: readiness before keys load, internal errors (deny, traceback only in the log),
a broken audit sink, and no secret from the config reaching the audit log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.config import parse_settings, policy_source
from app.core.references import ImageRef
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.webhook.app import create_app
from app.webhook.review import Reviewer
from app.webhook.tls import ServingCertificate
from tests.fakes import ManualClock
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook, serve_in_thread
from tests.support.certs import ServerTls
from tests.webhook.reviews import review

APP = "registry.example.com/team/app:1"


class Exploding:
    """A verifier with a bug."""

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        raise RuntimeError("token=hunter2 in a bug's message")


class SlowKeys:
    """A key store whose Secrets have not been read yet."""

    def __init__(self) -> None:
        self.done = False

    def snapshot(self) -> KeySnapshot:
        return KeySnapshot()

    def loaded(self) -> bool:
        return self.done


class BrokenKeys(SlowKeys):
    def snapshot(self) -> KeySnapshot:
        raise ValueError("snapshot bug")


@pytest.fixture
def serve_app(webhook_tls: ServerTls) -> Any:
    started: list[RunningWebhook] = []

    def serve(reviewer: Reviewer, ready: Callable[[], bool] = lambda: True) -> RunningWebhook:
        webhook = RunningWebhook("", webhook_tls.ca_file, Path("-"))
        serve_in_thread(
            webhook,
            create_app(reviewer, ready),
            ServingCertificate(webhook_tls.cert_file, webhook_tls.key_file),
        )
        started.append(webhook)
        return webhook

    yield serve
    for webhook in started:
        webhook.stop()


def reviewer(
    key: KeyPair, verifier: Any, keys: Any = None, audit: Callable[[str], None] = lambda _: None
) -> Reviewer:
    settings = parse_settings(
        {
            "server": {"tls": {"selfSignedDir": "x"}},
            "policies": [key_policy("prod", "registry.example.com/**", key)],
        }
    )
    return Reviewer(
        policy_source(settings),
        keys or SlowKeys(),
        verifier,
        2.0,
        audit,
        clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )


def test_readyz_waits_for_the_keys_while_healthz_answers(
    serve_app: Any, key_pairs: dict[str, KeyPair]
) -> None:
    keys = SlowKeys()
    webhook = serve_app(reviewer(key_pairs["ecdsa-p256"], Exploding(), keys), ready=keys.loaded)
    assert webhook.get("/healthz").status_code == 200
    not_ready = webhook.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["status"] == "not ready"
    keys.done = True
    assert webhook.get("/readyz").status_code == 200


def test_a_bug_while_verifying_is_a_deny_saying_internal_error_with_the_traceback_only_in_the_log(
    serve_app: Any, key_pairs: dict[str, KeyPair], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    webhook = serve_app(reviewer(key_pairs["ecdsa-p256"], Exploding()))
    answer = webhook.post(review([("app", APP)]))
    assert answer.status_code == 200
    assert answer.json()["response"]["status"] == {
        "code": 403,
        "message": "spec.containers[0] (app) registry.example.com/team/app:1: internal error, see webhook logs",
    }
    assert "hunter2" not in answer.text
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text


def test_a_bug_outside_the_images_is_a_deny_for_the_whole_pod(
    serve_app: Any, key_pairs: dict[str, KeyPair], caplog: pytest.LogCaptureFixture
) -> None:
    webhook = serve_app(reviewer(key_pairs["ecdsa-p256"], Exploding(), BrokenKeys()))
    response = webhook.post(review([("app", APP)])).json()["response"]
    assert response["allowed"] is False
    assert response["status"]["message"] == "internal error, see webhook logs"
    assert "snapshot bug" in caplog.text


def test_a_broken_audit_sink_does_not_change_the_answer(
    serve_app: Any, key_pairs: dict[str, KeyPair]
) -> None:
    def broken(_: str) -> None:
        raise OSError("stdout closed")

    webhook = serve_app(reviewer(key_pairs["ecdsa-p256"], Exploding(), audit=broken))
    body = review([("app", "other.io/x:1")], namespace="default")
    assert webhook.post(body).json()["response"]["allowed"] is False


class BrokenObserver:
    """Metrics whose every call fails."""

    def reviewed(self, *_: object) -> None:
        raise RuntimeError("metrics bug")

    def malformed(self, *_: object) -> None:
        raise RuntimeError("metrics bug")


def test_a_broken_metrics_observer_does_not_change_the_answer(
    serve_app: Any, key_pairs: dict[str, KeyPair], caplog: pytest.LogCaptureFixture
) -> None:
    broken = reviewer(key_pairs["ecdsa-p256"], Exploding())
    broken.observer = BrokenObserver()
    webhook = serve_app(broken)
    denied = webhook.post(review([("app", "other.io/x:1")], namespace="default"))
    assert denied.status_code == 200 and denied.json()["response"]["allowed"] is False
    allowed = webhook.post(review([("app", "other.io/x:1")], namespace="kube-system"))
    assert allowed.status_code == 200 and allowed.json()["response"]["allowed"] is True
    malformed = webhook.post(b"{not json")
    assert malformed.status_code == 400 and "not JSON" in malformed.json()["error"]
    assert "metrics bug" in caplog.text


def test_registry_credentials_from_the_config_never_reach_the_audit_log_or_the_logs(
    start_webhook: Callable[[dict[str, Any]], RunningWebhook],
    tls_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps(tls_registry.docker_config()))
    assert tls_registry.ca_file is not None and tls_registry.password is not None
    push_image(tls_registry, "private/app", "1", content=b"private")
    image = f"{tls_registry.host}/private/app:1"
    sign_image(
        image,
        key_pairs["ecdsa-p256"],
        ["--ca-file", f"{tls_registry.host}={tls_registry.ca_file}", "--registry-config", str(docker_config)],
    )
    webhook = start_webhook(
        {
            "registries": {
                "caFiles": {tls_registry.host: str(tls_registry.ca_file)},
                "dockerConfigFile": str(docker_config),
            },
            "policies": [key_policy("private", f"{tls_registry.host}/private/**", key_pairs["ecdsa-p256"])],
        }
    )
    answer = webhook.post(review([("app", image), ("gone", f"{tls_registry.host}/private/missing:1")]))
    lines = answer.json()["response"]["status"]["message"].split("\n")
    assert len(lines) == 1 and "private/missing:1" in lines[0]  # the signed one passed, with credentials
    auth = tls_registry.docker_config()["auths"][tls_registry.host]["auth"]  # type: ignore[index]
    for secret in (tls_registry.password, auth):
        assert secret not in "\n".join(webhook.audit_lines)
        assert secret not in caplog.text
        assert secret not in answer.text
