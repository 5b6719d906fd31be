"""The admission decision for each policy × pod, over HTTPS against the real registry.

Images are pushed to the real `docker-registry` (skopeo) and signed by the real `sigwebhook sign`:
v2 `.sig` signatures and (`--bundle`) v3 sigstore bundle referrers. The webhook is the real uvicorn
server built from a YAML config by `build_webhook`. Each row gives the pod and the expected answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from app.core.digests import Digest
from app.core.trust.keys import load_public_key
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.webhook.reviews import pod, review

A, B, C, WRONG = "ecdsa-p256", "ed25519", "rsa-openssl", "ecdsa-p384"


@dataclass(frozen=True)
class Images:
    host: str
    digests: dict[str, Digest]

    def __call__(self, name: str) -> str:
        """`name` is `repo:tag` under the test registry."""
        return f"{self.host}/{name}"


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> Images:
    """Push and sign, once for the module: repo → signers (v3 = `--bundle`)."""
    host = plain_registry.host
    plan: dict[str, list[tuple[str, bool]]] = {
        "table/team/signed-v2": [(A, False)],
        "table/team/signed-v3": [(A, True)],
        "table/team/unsigned": [],
        "table/team/wrong-key": [(WRONG, False)],
        "table/db/quorum-met": [(A, False), (C, True)],
        "table/db/quorum-short": [(B, False)],
        "table/misc/tool": [(A, False)],
    }
    digests = {}
    for repo, signers in plan.items():
        digests[repo] = push_image(plain_registry, repo, "1", content=repo.encode())
        for kind, bundle in signers:
            sign_image(f"{host}/{repo}:1", key_pairs[kind], ["--insecure-registry", host], bundle=bundle)
    return Images(host, digests)


@pytest.fixture(scope="module")
def table_config(images: Images, key_pairs: dict[str, KeyPair]) -> dict[str, Any]:
    key = lambda kind: {"file": str(key_pairs[kind].public)}  # noqa: E731
    return {
        "deadlineSeconds": 8,
        "skipNamespaces": ["kube-system"],
        "exemptImages": [images("table/infra/pause:*")],
        "registries": {"insecure": [images.host]},
        "policies": [
            {
                "name": "team",
                "images": [images("table/team/**")],
                "keys": [key(A)],
                "transparencyLog": "ignore",
            },
            {
                "name": "db",
                "images": [images("table/db/**")],
                "keys": [key(A), key(B), key(C)],
                "transparencyLog": "ignore",
                "threshold": 2,
            },
        ],
    }


@pytest.fixture(scope="module")
def webhook(
    table_config: dict[str, Any], module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook]
) -> RunningWebhook:
    """One server for the whole table (module-scoped)."""
    return module_webhook_starter(table_config)


NO_SIG = 'no signature verified by the keys of policy "team" (no signatures found)'
WRONG_KEY = (
    'no signature verified by the keys of policy "team" '
    "(1 signature(s) found: signature does not verify with any trusted key)"
)


class Row(NamedTuple):
    """A pod (containers as (name, image) under the test registry) in `namespace`, and the lines of
    the deny message expected, one per failing container: (container label, image, reason); none
    when the pod is admitted."""

    id: str
    containers: Sequence[tuple[str, str]]
    init: Sequence[tuple[str, str]] = ()
    ephemeral: Sequence[tuple[str, str]] = ()
    namespace: str = "default"
    denied: Sequence[tuple[str, str, str]] = ()


ROWS = [
    Row("signed v2", containers=[("app", "table/team/signed-v2:1")]),
    Row("signed v3 bundle", containers=[("app", "table/team/signed-v3:1")]),
    Row(
        "unsigned",
        containers=[("app", "table/team/unsigned:1")],
        denied=[("spec.containers[0] (app)", "table/team/unsigned:1", NO_SIG)],
    ),
    Row(
        "wrong key",
        containers=[("app", "table/team/wrong-key:1")],
        denied=[("spec.containers[0] (app)", "table/team/wrong-key:1", WRONG_KEY)],
    ),
    Row(
        "several containers, one unsigned",
        containers=[
            ("web", "table/team/signed-v2:1"),
            ("sidecar", "table/team/unsigned:1"),
            ("api", "table/team/signed-v3:1"),
        ],
        denied=[("spec.containers[1] (sidecar)", "table/team/unsigned:1", NO_SIG)],
    ),
    Row(
        "init container unsigned",
        containers=[("app", "table/team/signed-v2:1")],
        init=[("migrate", "table/team/unsigned:1")],
        denied=[("spec.initContainers[0] (migrate)", "table/team/unsigned:1", NO_SIG)],
    ),
    Row(
        "ephemeral container wrong key",
        containers=[("app", "table/team/signed-v2:1")],
        ephemeral=[("debug", "table/team/wrong-key:1")],
        denied=[("spec.ephemeralContainers[0] (debug)", "table/team/wrong-key:1", WRONG_KEY)],
    ),
    Row(
        "every kind signed",
        containers=[("app", "table/team/signed-v2:1")],
        init=[("init", "table/team/signed-v3:1")],
        ephemeral=[("debug", "table/team/signed-v2:1")],
    ),
    Row(
        "unmatched image",
        containers=[("tool", "table/misc/tool:1")],
        denied=[
            (
                "spec.containers[0] (tool)",
                "table/misc/tool:1",
                "no policy matches this image (unmatched: deny)",
            )
        ],
    ),
    Row("skipped namespace", containers=[("app", "table/team/unsigned:1")], namespace="kube-system"),
    Row("exempt image (never pushed)", containers=[("pause", "table/infra/pause:3.9")]),
    Row("threshold 2 of 3 met (v2 + v3)", containers=[("db", "table/db/quorum-met:1")]),
    Row(
        "threshold 2 of 3 short",
        containers=[("db", "table/db/quorum-short:1")],
        denied=[
            (
                "spec.containers[0] (db)",
                "table/db/quorum-short:1",
                '1 of the 2 distinct keys policy "db" requires signed',
            )
        ],
    ),
    Row(
        "missing image",
        containers=[("app", "table/team/never-pushed:1")],
        denied=[
            (
                "spec.containers[0] (app)",
                "table/team/never-pushed:1",
                "image {host}/table/team/never-pushed:1 not found: {host} has no manifest for tag '1'",
            )
        ],
    ),
    Row(
        "two failing, in pod order",
        containers=[("a", "table/team/wrong-key:1")],
        init=[("b", "table/team/unsigned:1")],
        denied=[
            ("spec.containers[0] (a)", "table/team/wrong-key:1", WRONG_KEY),
            ("spec.initContainers[0] (b)", "table/team/unsigned:1", NO_SIG),
        ],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_policy_pod_table_over_https(webhook: RunningWebhook, images: Images, row: Row) -> None:
    qualify = lambda pairs: [(n, images(i)) for n, i in pairs]  # noqa: E731
    body = review(
        qualify(row.containers),
        init=qualify(row.init),
        ephemeral=qualify(row.ephemeral),
        namespace=row.namespace,
    )
    answer = webhook.post(body)
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["uid"] == body["request"]["uid"]
    assert response["allowed"] is (not row.denied)
    if not row.denied:
        assert "status" not in response
        return
    assert response["status"]["code"] == 403
    got = response["status"]["message"].split("\n")
    assert len(got) == len(row.denied)
    for line, (label, image, reason) in zip(got, row.denied, strict=True):
        prefix = f"{label} {images(image)}: "
        assert line.startswith(prefix)
        assert line == prefix + reason.format(host=images.host)


def test_the_audit_record_names_the_format_key_and_digest_that_verified(
    webhook: RunningWebhook, images: Images, key_pairs: dict[str, KeyPair]
) -> None:
    body = review(
        [("v2", images("table/team/signed-v2:1")), ("v3", images("table/team/signed-v3:1"))], uid="audit-v2v3"
    )
    assert webhook.post(body).json()["response"]["allowed"] is True
    record = next(r for r in webhook.audit if r["uid"] == "audit-v2v3")
    fingerprint = load_public_key(key_pairs[A].public.read_bytes(), "a").fingerprint
    v2, v3 = record["images"]
    assert v2["digest"] == str(images.digests["table/team/signed-v2"])
    assert v3["digest"] == str(images.digests["table/team/signed-v3"])
    assert [(s["format"], s["key_fingerprint"]) for s in v2["signatures"]] == [
        ("cosign-v2-sig-tag", fingerprint)
    ]
    assert [(s["format"], s["key_fingerprint"]) for s in v3["signatures"]] == [
        ("cosign-v3-bundle", fingerprint)
    ]
    assert v2["policies"] == ["team"] and v2["verdict"] == "verified"


def test_an_update_that_changes_no_image_is_allowed_even_for_an_unsigned_image(
    webhook: RunningWebhook, images: Images
) -> None:
    # The pod was admitted before the policy existed; a label change must not be refused.
    containers = [("app", images("table/team/unsigned:1"))]
    body = review(containers, operation="UPDATE", old=pod(containers), uid="update-same")
    assert webhook.post(body).json()["response"]["allowed"] is True
