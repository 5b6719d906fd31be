"""`SecretKeyStore`: strict start-up, then keys that follow their Secrets without ever failing open."""

from __future__ import annotations

import logging
import threading

import pytest

from app.core.errors import ConfigError
from app.core.trust.keys import load_public_key
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, Secret, secret_from
from app.kube.keysecrets import SecretKeyStore, parse_secret_keys
from app.kube.secretwatch import Backoff, SecretFollower
from tests.fakes import ManualClock
from tests.kube.fakes import FakeCore, event_line, public_pem, v1_secret
from tests.kube.test_client import forbidden

REF = SecretRef("keys", "cosign")
OTHER = SecretRef("keys", "team-b")


def cosign_layout(pub: bytes) -> dict[str, bytes]:
    """What `cosign generate-key-pair k8s://ns/name` stores."""
    return {
        "cosign.pub": pub,
        "cosign.key": b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n...",
        "cosign.password": b"pw",
    }


def secret(rv: str, data: dict[str, bytes], ref: SecretRef = REF) -> Secret:
    return secret_from(ref, v1_secret(ref.namespace, ref.name, rv, data))


def fingerprint(pem: bytes) -> str:
    return load_public_key(pem, "expected").fingerprint


def loaded_store(pem: bytes, clock: ManualClock | None = None) -> SecretKeyStore:
    core = FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "1", cosign_layout(pem))})
    store = SecretKeyStore(KubeApi(core), [REF], clock=clock or ManualClock())
    store.load()
    return store


def test_start_up_loads_cosign_pub_and_ignores_the_private_key_entries() -> None:
    pem = public_pem()
    store = loaded_store(pem)
    keys = store.snapshot().keys_of(REF)
    assert [k.fingerprint for k in keys] == [fingerprint(pem)]
    assert keys[0].name == "k8s://keys/cosign/cosign.pub"
    assert store.loaded() and dict(store.snapshot().problems) == {}


def test_every_pub_and_pem_entry_is_a_key_and_duplicates_count_once() -> None:
    a, b = public_pem(), public_pem()
    keys = parse_secret_keys(secret("1", {"cosign.pub": a, "extra.pem": b, "copy.pub": a, "README": b"x"}))
    assert sorted(k.fingerprint for k in keys) == sorted([fingerprint(a), fingerprint(b)])


@pytest.mark.parametrize(
    ("core", "message"),
    [
        (FakeCore(), "key Secret k8s://keys/cosign does not exist"),
        (FakeCore(list_error=forbidden()), "cannot list resource"),
        (
            FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "1", {"cosign.key": b"x"})}),
            "has no cosign.pub, \\*.pub or \\*.pem entry",
        ),
        (
            FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "1", {"cosign.pub": b"garbage"})}),
            "k8s://keys/cosign/cosign.pub: not a PEM public key",
        ),
    ],
    ids=["missing", "forbidden", "no-key-entry", "unparseable"],
)
def test_a_secret_that_cannot_give_keys_at_start_up_stops_start_up(core: FakeCore, message: str) -> None:
    store = SecretKeyStore(KubeApi(core), [REF])
    with pytest.raises(ConfigError, match=message):
        store.load()
    assert not store.loaded()


def test_a_rotated_key_replaces_the_old_one_in_a_new_snapshot() -> None:
    old, new = public_pem(), public_pem()
    clock = ManualClock()
    store = loaded_store(old, clock)
    before = store.snapshot()
    clock.advance(5)
    store.apply(REF, secret("2", cosign_layout(new)))
    after = store.snapshot()
    assert [k.fingerprint for k in after.keys_of(REF)] == [fingerprint(new)]
    assert after.taken_at == before.taken_at + 5
    assert [k.fingerprint for k in before.keys_of(REF)] == [fingerprint(old)]  # old snapshot untouched


def test_a_secret_made_unparseable_keeps_its_last_good_keys_and_logs_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = public_pem()
    store = loaded_store(good)
    with caplog.at_level(logging.ERROR, logger="app.kube.trackedsecrets"):
        store.apply(REF, secret("2", {"cosign.pub": b"-----BEGIN PUBLIC KEY-----\nbroken\n"}))
    assert [k.fingerprint for k in store.snapshot().keys_of(REF)] == [fingerprint(good)]
    assert "keeping its last good value" in caplog.text and "k8s://keys/cosign" in caplog.text


def test_a_deleted_secret_drops_its_keys_with_a_reason_and_logs_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = loaded_store(public_pem())
    with caplog.at_level(logging.ERROR, logger="app.kube.trackedsecrets"):
        store.apply(REF, None)
    snapshot = store.snapshot()
    assert snapshot.keys_of(REF) == ()
    assert snapshot.problems[REF] == "key Secret k8s://keys/cosign does not exist (deleted)"
    assert "was deleted" in caplog.text


def test_a_deleted_then_recreated_secret_is_trusted_again() -> None:
    store = loaded_store(public_pem())
    store.apply(REF, None)
    new = public_pem()
    store.apply(REF, secret("9", cosign_layout(new)))
    assert [k.fingerprint for k in store.snapshot().keys_of(REF)] == [fingerprint(new)]
    assert REF not in store.snapshot().problems


def test_a_recreated_secret_without_keys_is_a_problem_not_an_empty_key_set() -> None:
    store = loaded_store(public_pem())
    store.apply(REF, None)
    store.apply(REF, secret("9", {"cosign.pub": b"nope"}))
    assert store.snapshot().keys_of(REF) == ()
    assert "not a PEM public key" in store.snapshot().problems[REF]


def test_an_unchanged_resource_version_publishes_nothing() -> None:
    store = loaded_store(public_pem())
    before = store.snapshot()
    store.apply(REF, secret("1", cosign_layout(public_pem())))
    assert store.snapshot() is before


def test_one_secret_changing_leaves_the_others_keys_alone() -> None:
    a, b = public_pem(), public_pem()
    core = FakeCore(
        {
            ("keys", "cosign"): v1_secret("keys", "cosign", "1", cosign_layout(a)),
            ("keys", "team-b"): v1_secret("keys", "team-b", "1", cosign_layout(b)),
        }
    )
    store = SecretKeyStore(KubeApi(core), [REF, OTHER])
    store.load()
    store.apply(REF, None)
    assert [k.fingerprint for k in store.snapshot().keys_of(OTHER)] == [fingerprint(b)]


def test_watch_events_drive_the_store_through_rotation_breakage_and_deletion() -> None:
    one, two = public_pem(), public_pem()
    stored = {("keys", "cosign"): v1_secret("keys", "cosign", "1", cosign_layout(one))}
    lines = [
        event_line("MODIFIED", v1_secret("keys", "cosign", "2", cosign_layout(two))),
        event_line("MODIFIED", v1_secret("keys", "cosign", "3", {"cosign.pub": b"oops"})),
    ]
    core = FakeCore(stored, watches=[lines, [event_line("DELETED", v1_secret("keys", "cosign", "3", {}))]])
    store = SecretKeyStore(KubeApi(core), [REF])
    store.load()
    snapshots: list[tuple[str, ...]] = []

    def observe(ref: SecretRef, s: Secret | None) -> None:
        store.apply(ref, s)
        snapshots.append(tuple(k.fingerprint for k in store.snapshot().keys_of(ref)))

    stop = threading.Event()
    SecretFollower(KubeApi(core), REF, observe, stop, Backoff()).run(lambda _: True)
    assert snapshots == [(fingerprint(one),), (fingerprint(two),), (fingerprint(two),), ()]
    assert "deleted" in store.snapshot().problems[REF]


def test_the_store_satisfies_the_core_key_store_port() -> None:
    from app.core.ports import KeyStore

    store: KeyStore = loaded_store(public_pem())
    assert store.loaded() and store.snapshot().keys
