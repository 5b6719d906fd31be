"""The pure decision: policies × pods with a scripted verifier (the `ImageVerifier` port). Each row
of the table gives the expected decision and message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import pytest

from app.core.admission.decision import INTERNAL_ERROR, Verdict
from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import Policy, Unmatched
from app.core.errors import ImageNotFound
from app.core.references import ImageRef
from app.core.trust.keys import TrustedKey
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from tests.core.decisions import (
    ALICE,
    APP,
    BOB,
    CAROL,
    DB,
    DB_TWO_OF_THREE,
    MALLORY,
    OTHER,
    PROD,
    ScriptedVerifier,
    norm,
    policy,
    run,
)
from tests.webhook.reviews import pod, review


class Row(NamedTuple):
    """One pod under some policies: its containers (name, image), the keys that signed each image,
    and the decision expected (`message`: the deny message, None when allowed)."""

    id: str
    policies: tuple[Policy, ...]
    containers: Sequence[tuple[str, str]]
    signed: Mapping[str, tuple[TrustedKey, ...]]
    allowed: bool
    message: str | None = None
    init: Sequence[tuple[str, str]] = ()


ROWS = [
    Row(
        "signed single container",
        policies=(PROD,),
        containers=[("app", APP)],
        signed={APP: (ALICE,)},
        allowed=True,
    ),
    Row(
        "unsigned",
        policies=(PROD,),
        containers=[("app", APP)],
        signed={},
        allowed=False,
        message=(
            "spec.containers[0] (app) registry.example.com/team/app:1: "
            'no signature verified by the keys of policy "prod" (no signatures found)'
        ),
    ),
    Row(
        "signed with the wrong key",
        policies=(PROD,),
        containers=[("app", APP)],
        signed={APP: (MALLORY,)},
        allowed=False,
        message=(
            "spec.containers[0] (app) registry.example.com/team/app:1: "
            'no signature verified by the keys of policy "prod" '
            "(1 signature(s) found: signature does not verify with any trusted key)"
        ),
    ),
    Row(
        "init container unsigned, app signed",
        policies=(PROD,),
        containers=[("app", APP)],
        init=[("migrate", DB)],
        signed={APP: (ALICE,)},
        allowed=False,
        message=(
            "spec.initContainers[0] (migrate) registry.example.com/db/migrate:2: "
            'no signature verified by the keys of policy "prod" (no signatures found)'
        ),
    ),
    Row(
        "unmatched image denied by default",
        policies=(PROD,),
        containers=[("app", APP), ("shell", OTHER)],
        signed={APP: (ALICE,)},
        allowed=False,
        message="spec.containers[1] (shell) other.io/tools/shell:1: no policy matches this image (unmatched: deny)",
    ),
    Row(
        "exempt image",
        policies=(PROD,),
        containers=[("pause", "registry.k8s.io/pause:3.9")],
        signed={},
        allowed=True,
    ),
    Row(
        "threshold 2 of 3 met",
        policies=(DB_TWO_OF_THREE,),
        containers=[("db", DB)],
        signed={DB: (ALICE, CAROL)},
        allowed=True,
    ),
    Row(
        "threshold 2 of 3 not met",
        policies=(DB_TWO_OF_THREE,),
        containers=[("db", DB)],
        signed={DB: (BOB, MALLORY)},
        allowed=False,
        message='spec.containers[0] (db) registry.example.com/db/migrate:2: 1 of the 2 distinct keys policy "db-quorum" requires signed',
    ),
    Row(
        "two policies match: both must pass",
        policies=(PROD, DB_TWO_OF_THREE),
        containers=[("db", DB)],
        signed={DB: (ALICE,)},
        allowed=False,
        message='spec.containers[0] (db) registry.example.com/db/migrate:2: 1 of the 2 distinct keys policy "db-quorum" requires signed',
    ),
    Row(
        "two policies match and pass",
        policies=(PROD, DB_TWO_OF_THREE),
        containers=[("db", DB)],
        signed={DB: (ALICE, BOB)},
        allowed=True,
    ),
    Row(
        "one line per failing container",
        policies=(PROD,),
        containers=[("a", APP), ("b", "registry.example.com/team/b:1")],
        signed={},
        allowed=False,
        message=(
            "spec.containers[0] (a) registry.example.com/team/app:1: "
            'no signature verified by the keys of policy "prod" (no signatures found)\n'
            "spec.containers[1] (b) registry.example.com/team/b:1: "
            'no signature verified by the keys of policy "prod" (no signatures found)'
        ),
    ),
    Row(
        "an invalid reference is a deny with the reason",
        policies=(PROD,),
        containers=[("bad", "Registry.example.com/UPPER:1")],
        signed={},
        allowed=False,
        message=(
            "spec.containers[0] (bad) Registry.example.com/UPPER:1: invalid image reference "
            "'Registry.example.com/UPPER:1': repository name must be lowercase"
        ),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_policy_pod_table(row: Row) -> None:
    signed_by = {norm(image): keys for image, keys in row.signed.items()}
    body = review(row.containers, init=row.init)
    decision = await run(body, policy(*row.policies), ScriptedVerifier(signed_by))
    assert decision.allowed is row.allowed
    assert decision.message == row.message


async def test_unmatched_allow_admits_an_image_no_policy_names() -> None:
    decision = await run(
        review([("shell", OTHER)]), policy(PROD, unmatched=Unmatched.ALLOW), ScriptedVerifier()
    )
    assert decision.allowed and decision.images[0].verdict is Verdict.UNMATCHED_ALLOWED


async def test_a_skipped_namespace_is_allowed_without_verifying() -> None:
    verifier = ScriptedVerifier()
    decision = await run(
        review([("app", APP)], init=[("init", OTHER)], namespace="kube-system"), policy(PROD), verifier
    )
    assert decision.allowed and verifier.calls == []
    # every image is still recorded for the audit line: the bypass is visible
    assert [(o.container.image, o.verdict) for o in decision.images] == [
        (APP, Verdict.SKIPPED),
        (OTHER, Verdict.SKIPPED),
    ]


async def test_an_exempt_image_is_not_verified() -> None:
    verifier = ScriptedVerifier()
    decision = await run(review([("pause", "registry.k8s.io/pause:3.9")]), policy(PROD), verifier)
    assert decision.images[0].verdict is Verdict.EXEMPT and verifier.calls == []


async def test_the_same_image_in_two_containers_is_verified_once() -> None:
    verifier = ScriptedVerifier({norm(APP): (ALICE,)})
    decision = await run(review([("a", APP), ("b", APP)], init=[("c", APP)]), policy(PROD), verifier)
    assert decision.allowed and len(verifier.calls) == 1


async def test_the_verifier_gets_the_union_of_the_keys_of_every_matching_policy() -> None:
    verifier = ScriptedVerifier({norm(DB): (ALICE, BOB)})
    await run(review([("db", DB)]), policy(PROD, DB_TWO_OF_THREE), verifier)
    assert verifier.calls == [(norm(DB), frozenset({"alice", "bob", "carol"}))]


async def test_images_of_a_pod_are_verified_concurrently() -> None:
    started = asyncio.Event()
    running = 0

    class Concurrent(ScriptedVerifier):
        async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
            nonlocal running
            running += 1
            if running == 3:
                started.set()
            await started.wait()  # only returns once all three run at the same time
            return await super().verify(ref, trust)

    images = [(f"c{i}", f"registry.example.com/team/app{i}:1") for i in range(3)]
    verifier = Concurrent({norm(i): (ALICE,) for _, i in images})
    decision = await run(review(images), policy(PROD), verifier, deadline_seconds=5.0)
    assert decision.allowed


async def test_past_the_deadline_the_slow_image_is_denied_and_the_others_keep_their_verdicts() -> None:
    verifier = ScriptedVerifier({norm(APP): (ALICE,)}, hang={norm(DB)})
    begun = time.monotonic()
    decision = await run(review([("app", APP), ("db", DB)]), policy(PROD), verifier, deadline_seconds=0.2)
    assert time.monotonic() - begun < 1.0
    assert not decision.allowed
    assert decision.message == (
        "spec.containers[1] (db) registry.example.com/db/migrate:2: the registry did not answer in time (deadline 0.2s)"
    )
    assert decision.images[0].verdict is Verdict.VERIFIED


async def test_a_registry_error_on_one_image_is_that_images_reason() -> None:
    verifier = ScriptedVerifier(
        {norm(APP): (ALICE,)}, errors={norm(DB): ImageNotFound("manifest unknown: db/migrate:2")}
    )
    decision = await run(review([("app", APP), ("db", DB)]), policy(PROD), verifier)
    assert (
        decision.message
        == "spec.containers[1] (db) registry.example.com/db/migrate:2: manifest unknown: db/migrate:2"
    )


async def test_an_unexpected_exception_is_an_internal_error_deny_without_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = ScriptedVerifier(errors={norm(APP): KeyError("secret detail")})
    decision = await run(review([("app", APP)]), policy(PROD), verifier)
    assert decision.message == f"spec.containers[0] (app) registry.example.com/team/app:1: {INTERNAL_ERROR}"
    assert "secret detail" not in (decision.message or "")
    assert "KeyError" in caplog.text


async def test_a_policy_whose_secret_has_no_keys_denies_with_the_secrets_problem() -> None:
    ref = SecretRef("sigwebhook", "cosign-keys")
    from_secret = Policy("prod", (ImagePattern("registry.example.com/**"),), secrets=(ref,))
    snapshot = KeySnapshot(problems=MappingProxyType({ref: "Secret not found"}))
    verifier = ScriptedVerifier({norm(APP): (ALICE,)})
    decision = await run(review([("app", APP)]), policy(from_secret), verifier, snapshot=snapshot)
    assert decision.message == (
        'spec.containers[0] (app) registry.example.com/team/app:1: policy "prod" has no usable keys '
        "(k8s://sigwebhook/cosign-keys: Secret not found)"
    )
    assert verifier.calls == []


async def test_keys_from_the_current_snapshot_verify() -> None:
    ref = SecretRef("sigwebhook", "cosign-keys")
    from_secret = Policy("prod", (ImagePattern("registry.example.com/**"),), secrets=(ref,))
    snapshot = KeySnapshot(keys=MappingProxyType({ref: (BOB,)}))
    decision = await run(
        review([("app", APP)]), policy(from_secret), ScriptedVerifier({norm(APP): (BOB,)}), snapshot=snapshot
    )
    assert decision.allowed


async def test_an_update_that_changes_no_image_is_allowed_without_registry_calls() -> None:
    verifier = ScriptedVerifier()
    old = pod([("app", APP)])
    decision = await run(review([("app", APP)], operation="UPDATE", old=old), policy(PROD), verifier)
    assert decision.allowed and verifier.calls == []


async def test_an_update_verifies_only_the_image_it_changes() -> None:
    verifier = ScriptedVerifier({norm(APP): (ALICE,)})
    old = pod([("app", APP), ("db", DB)])
    body = review([("app", APP), ("db", "registry.example.com/db/migrate:3")], operation="UPDATE", old=old)
    decision = await run(body, policy(PROD), verifier)
    assert [c for c, _ in verifier.calls] == ["registry.example.com/db/migrate:3"]
    assert decision.message == (
        "spec.containers[1] (db) registry.example.com/db/migrate:3: "
        'no signature verified by the keys of policy "prod" (no signatures found)'
    )


async def test_an_ephemeral_container_added_by_kubectl_debug_is_checked() -> None:
    old = pod([("app", APP)])
    new = pod([("app", APP)], ephemeral=[("debugger", OTHER)])
    body = review(operation="UPDATE", old=old, obj=new)
    body["request"]["subResource"] = "ephemeralcontainers"
    decision = await run(body, policy(PROD), ScriptedVerifier({norm(APP): (ALICE,)}))
    assert decision.message == (
        "spec.ephemeralContainers[0] (debugger) other.io/tools/shell:1: no policy matches this image (unmatched: deny)"
    )


async def test_delete_and_connect_are_allowed() -> None:
    for operation in ("DELETE", "CONNECT"):
        decision = await run(review([("app", APP)], operation=operation), policy(PROD), ScriptedVerifier())
        assert decision.allowed


async def test_a_kind_without_a_pod_template_is_refused_with_a_clear_message() -> None:
    body = review([("app", APP)])
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    body["request"]["object"] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    verifier = ScriptedVerifier()
    decision = await run(body, policy(PROD), verifier)
    assert not decision.allowed and verifier.calls == []
    assert decision.message == (
        "sigwebhook reviews pods and ReplicationController, Deployment, ReplicaSet, StatefulSet, "
        "DaemonSet, Job, CronJob only, but was called for v1 ConfigMap: "
        "check the rules of the webhook configuration"
    )
