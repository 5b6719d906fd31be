"""SIGTERM answers every review in flight, with its audit line, before the process exits.

The kubelet sends SIGTERM at every rolling update. uvicorn then stops accepting and gives requests in
flight a graceful time; it was 5 s while a review may take `deadlineSeconds` (8 s), so a slow review
got HTTP 500 and no audit line. The graceful time now outlasts the deadline; and a review its server
gives up on anyway is denied and audited rather than cut.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.core.admission.policy import FixedPolicySource
from app.core.references import ImageRef
from app.core.trust.secretkeys import StaticKeyStore
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.webhook.review import Reviewer
from tests.core.decisions import PROD, policy
from tests.fixtures.registry import TestRegistry
from tests.fixtures.signing import KeyPair
from tests.reliability.conftest import lane_config, push_signed
from tests.support.fault_proxy import FaultProxy
from tests.support.load import Answer, post_reviews
from tests.support.served import ServedWebhook
from tests.webhook.reviews import review

pytestmark = pytest.mark.reliability


def test_a_review_in_flight_at_sigterm_is_answered_and_audited_before_the_process_exits(
    serve: Callable[[dict[str, Any]], ServedWebhook],
    plain_registry: TestRegistry,
    proxy: FaultProxy,
    key_pairs: dict[str, KeyPair],
) -> None:
    (image,) = push_signed(plain_registry, key_pairs["ecdsa-p256"], "lane/shutdown", 1)
    image = f"{proxy.host}/{image.split('/', 1)[1]}"
    config = lane_config(
        proxy.host, key_pairs["ecdsa-p256"], deadlineSeconds=9, registries={"timeoutSeconds": 10}
    )
    webhook = serve(config)
    proxy.add("HEAD /v2/lane/shutdown/manifests/0", "delay", 7.0)  # well past the old 5 s grace
    body = review([("app", image)])
    answers: list[Answer] = []
    client = threading.Thread(
        target=lambda: answers.extend(
            asyncio.run(post_reviews(webhook.url, webhook.ca_file, [body], timeout=20))
        )
    )
    client.start()
    time.sleep(0.5)
    webhook.terminate()
    client.join(timeout=20)
    assert answers and answers[0].status == 200 and answers[0].allowed is True, answers
    # It then exits (uvicorn raises the SIGTERM it caught again once it has shut down).
    assert webhook.wait(timeout=15) in (0, -signal.SIGTERM)
    (record,) = [r for r in webhook.audit() if r.get("uid") == body["request"]["uid"]]
    assert record["decision"] == "allow"


class Endless:
    """A verifier that never finishes (a registry that never answers, and code that waits for it)."""

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        await asyncio.Event().wait()
        raise AssertionError("never")


async def test_a_review_its_server_gives_up_on_at_shutdown_is_denied_and_audited() -> None:
    audit: list[str] = []
    reviewer = Reviewer(FixedPolicySource(policy(PROD)), StaticKeyStore(), Endless(), 8.0, audit.append)
    body = review([("app", "registry.example.com/team/app:1")])
    answering = asyncio.ensure_future(reviewer.review(json.dumps(body).encode()))
    await asyncio.sleep(0.1)
    answering.cancel()  # what uvicorn does when its graceful time is up
    status, answer = await answering
    assert status == 200 and answer["response"]["allowed"] is False
    assert "the webhook was stopping before the answer was ready" in answer["response"]["status"]["message"]
    (line,) = audit
    assert json.loads(line)["uid"] == body["request"]["uid"] and json.loads(line)["decision"] == "deny"
