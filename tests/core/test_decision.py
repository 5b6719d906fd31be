"""The pure decision: policies × pods with a scripted verifier (the `ImageVerifier` port).

The verifier fake answers like the real one: only keys it is handed can verify a signature, and a
signature by any other key is a rejection. Each row gives the expected decision and message."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import MappingProxyType

import pytest

from app.core.admission.decision import INTERNAL_ERROR, Decision, Verdict, decide
from app.core.admission.policy import AdmissionPolicy, ImagePattern, Policy, Unmatched
from app.core.admission.review import parse_review
from app.core.digests import Digest
from app.core.errors import ImageNotFound
from app.core.references import ImageRef, parse_reference
from app.core.trust.keys import TrustedKey
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from app.core.verification.verdicts import ImageVerdict, RejectedSignature, SignatureFormat, VerifiedSignature
from tests.core.signers import ecdsa
from tests.webhook.reviews import pod, review

ALICE, BOB, CAROL, MALLORY = (ecdsa(n).key for n in ("alice", "bob", "carol", "mallory"))
APP = "registry.example.com/team/app:1"
DB = "registry.example.com/db/migrate:2"
OTHER = "other.io/tools/shell:1"
V2 = SignatureFormat.COSIGN_V2_SIG_TAG


@dataclass
class ScriptedVerifier:
    """`signed` maps an image (normalised, without digest) to the keys that signed it."""

    signed: dict[str, tuple[TrustedKey, ...]] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    calls: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    async def verify(self, ref: ImageRef, keys: tuple[TrustedKey, ...]) -> ImageVerdict:
        name = str(ref)
        self.calls.append((name, frozenset(k.name for k in keys)))
        if name in self.hang:
            await asyncio.Event().wait()
        if name in self.errors:
            raise self.errors[name]
        trusted = {k.fingerprint: k for k in keys}
        verified, rejected = [], []
        for signer in self.signed.get(name, ()):
            if signer.fingerprint in trusted:
                verified.append(VerifiedSignature(V2, signer.fingerprint, signer.name, "sig layer"))
            else:
                rejected.append(
                    RejectedSignature(V2, "sig layer", "signature does not verify with any trusted key")
                )
        return ImageVerdict(ref, Digest.of(name.encode()), tuple(verified), tuple(rejected))


def policy(*policies: Policy, unmatched: Unmatched = Unmatched.DENY) -> AdmissionPolicy:
    return AdmissionPolicy(
        policies,
        unmatched,
        frozenset({"kube-system", "sigwebhook"}),
        (ImagePattern("registry.k8s.io/pause:*"),),
    )


PROD = Policy("prod", (ImagePattern("registry.example.com/**"),), (ALICE,))
DB_TWO_OF_THREE = Policy(
    "db-quorum", (ImagePattern("registry.example.com/db/**"),), (ALICE, BOB, CAROL), threshold=2
)


async def run(body: dict, admission: AdmissionPolicy, verifier: ScriptedVerifier, **kw: object) -> Decision:
    return await decide(parse_review(body), admission, kw.pop("snapshot", KeySnapshot()), verifier, **kw)  # type: ignore[arg-type]


ROWS = [
    # (id, policies, containers, init, signed, expected allowed, expected message)
    ("signed single container", (PROD,), [("app", APP)], [], {APP: (ALICE,)}, True, None),
    (
        "unsigned",
        (PROD,),
        [("app", APP)],
        [],
        {},
        False,
        "spec.containers[0] (app) registry.example.com/team/app:1: "
        'no signature verified by the keys of policy "prod" (no signatures found)',
    ),
    (
        "signed with the wrong key",
        (PROD,),
        [("app", APP)],
        [],
        {APP: (MALLORY,)},
        False,
        "spec.containers[0] (app) registry.example.com/team/app:1: "
        'no signature verified by the keys of policy "prod" '
        "(1 signature(s) found: signature does not verify with any trusted key)",
    ),
    (
        "init container unsigned, app signed",
        (PROD,),
        [("app", APP)],
        [("migrate", DB)],
        {APP: (ALICE,)},
        False,
        "spec.initContainers[0] (migrate) registry.example.com/db/migrate:2: "
        'no signature verified by the keys of policy "prod" (no signatures found)',
    ),
    (
        "unmatched image denied by default",
        (PROD,),
        [("app", APP), ("shell", OTHER)],
        [],
        {APP: (ALICE,)},
        False,
        "spec.containers[1] (shell) other.io/tools/shell:1: no policy matches this image (unmatched: deny)",
    ),
    ("exempt image", (PROD,), [("pause", "registry.k8s.io/pause:3.9")], [], {}, True, None),
    ("threshold 2 of 3 met", (DB_TWO_OF_THREE,), [("db", DB)], [], {DB: (ALICE, CAROL)}, True, None),
    (
        "threshold 2 of 3 not met",
        (DB_TWO_OF_THREE,),
        [("db", DB)],
        [],
        {DB: (BOB, MALLORY)},
        False,
        'spec.containers[0] (db) registry.example.com/db/migrate:2: 1 of the 2 distinct keys policy "db-quorum" requires signed',
    ),
    (
        "two policies match: both must pass",
        (PROD, DB_TWO_OF_THREE),
        [("db", DB)],
        [],
        {DB: (ALICE,)},
        False,
        'spec.containers[0] (db) registry.example.com/db/migrate:2: 1 of the 2 distinct keys policy "db-quorum" requires signed',
    ),
    (
        "two policies match and pass",
        (PROD, DB_TWO_OF_THREE),
        [("db", DB)],
        [],
        {DB: (ALICE, BOB)},
        True,
        None,
    ),
    (
        "one line per failing container",
        (PROD,),
        [("a", APP), ("b", "registry.example.com/team/b:1")],
        [],
        {},
        False,
        "spec.containers[0] (a) registry.example.com/team/app:1: "
        'no signature verified by the keys of policy "prod" (no signatures found)\n'
        "spec.containers[1] (b) registry.example.com/team/b:1: "
        'no signature verified by the keys of policy "prod" (no signatures found)',
    ),
    (
        "an invalid reference is a deny with the reason",
        (PROD,),
        [("bad", "Registry.example.com/UPPER:1")],
        [],
        {},
        False,
        "spec.containers[0] (bad) Registry.example.com/UPPER:1: invalid image reference "
        "'Registry.example.com/UPPER:1': repository name must be lowercase",
    ),
]


@pytest.mark.parametrize(
    ("policies", "containers", "init", "signed", "allowed", "message"),
    [r[1:] for r in ROWS],
    ids=[r[0] for r in ROWS],
)
async def test_policy_pod_table(policies, containers, init, signed, allowed, message) -> None:  # type: ignore[no-untyped-def]
    signed_by = {_norm(k): v for k, v in signed.items()}
    decision = await run(review(containers, init=init), policy(*policies), ScriptedVerifier(signed_by))
    assert decision.allowed is allowed
    assert decision.message == message


def _norm(image: str) -> str:
    return str(parse_reference(image))


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
    verifier = ScriptedVerifier({_norm(APP): (ALICE,)})
    decision = await run(review([("a", APP), ("b", APP)], init=[("c", APP)]), policy(PROD), verifier)
    assert decision.allowed and len(verifier.calls) == 1


async def test_the_verifier_gets_the_union_of_the_keys_of_every_matching_policy() -> None:
    verifier = ScriptedVerifier({_norm(DB): (ALICE, BOB)})
    await run(review([("db", DB)]), policy(PROD, DB_TWO_OF_THREE), verifier)
    assert verifier.calls == [(_norm(DB), frozenset({"alice", "bob", "carol"}))]


async def test_images_of_a_pod_are_verified_concurrently() -> None:
    started = asyncio.Event()
    running = 0

    class Concurrent(ScriptedVerifier):
        async def verify(self, ref: ImageRef, keys: tuple[TrustedKey, ...]) -> ImageVerdict:
            nonlocal running
            running += 1
            if running == 3:
                started.set()
            await started.wait()  # only returns once all three run at the same time
            return await super().verify(ref, keys)

    images = [(f"c{i}", f"registry.example.com/team/app{i}:1") for i in range(3)]
    verifier = Concurrent({_norm(i): (ALICE,) for _, i in images})
    decision = await run(review(images), policy(PROD), verifier, deadline_seconds=5.0)
    assert decision.allowed


async def test_past_the_deadline_the_slow_image_is_denied_and_the_others_keep_their_verdicts() -> None:
    verifier = ScriptedVerifier({_norm(APP): (ALICE,)}, hang={_norm(DB)})
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
        {_norm(APP): (ALICE,)}, errors={_norm(DB): ImageNotFound("manifest unknown: db/migrate:2")}
    )
    decision = await run(review([("app", APP), ("db", DB)]), policy(PROD), verifier)
    assert (
        decision.message
        == "spec.containers[1] (db) registry.example.com/db/migrate:2: manifest unknown: db/migrate:2"
    )


async def test_an_unexpected_exception_is_an_internal_error_deny_without_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = ScriptedVerifier(errors={_norm(APP): KeyError("secret detail")})
    decision = await run(review([("app", APP)]), policy(PROD), verifier)
    assert decision.message == f"spec.containers[0] (app) registry.example.com/team/app:1: {INTERNAL_ERROR}"
    assert "secret detail" not in (decision.message or "")
    assert "KeyError" in caplog.text


async def test_a_policy_whose_secret_has_no_keys_denies_with_the_secrets_problem() -> None:
    ref = SecretRef("sigwebhook", "cosign-keys")
    from_secret = Policy("prod", (ImagePattern("registry.example.com/**"),), secrets=(ref,))
    snapshot = KeySnapshot(problems=MappingProxyType({ref: "Secret not found"}))
    verifier = ScriptedVerifier({_norm(APP): (ALICE,)})
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
        review([("app", APP)]), policy(from_secret), ScriptedVerifier({_norm(APP): (BOB,)}), snapshot=snapshot
    )
    assert decision.allowed


async def test_an_update_that_changes_no_image_is_allowed_without_registry_calls() -> None:
    verifier = ScriptedVerifier()
    old = pod([("app", APP)])
    decision = await run(review([("app", APP)], operation="UPDATE", old=old), policy(PROD), verifier)
    assert decision.allowed and verifier.calls == []


async def test_an_update_verifies_only_the_image_it_changes() -> None:
    verifier = ScriptedVerifier({_norm(APP): (ALICE,)})
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
    decision = await run(body, policy(PROD), ScriptedVerifier({_norm(APP): (ALICE,)}))
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
