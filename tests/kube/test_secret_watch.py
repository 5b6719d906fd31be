"""`SecretFollower`: list, watch from the list's version, resume, relist on 410, back off on errors."""

from __future__ import annotations

import threading

import urllib3.exceptions

from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi, Secret
from app.kube.secretwatch import Backoff, SecretFollower
from tests.fakes import ManualClock
from tests.kube.fakes import FakeCore, bookmark_line, event_line, gone_line, v1_secret

REF = SecretRef("keys", "cosign")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[SecretRef, str | None]] = []

    def __call__(self, ref: SecretRef, secret: Secret | None) -> None:
        self.seen.append((ref, None if secret is None else secret.resource_version))


class Waits:
    """Stands in for `stop.wait`: records each delay; says "stop" once `stop_after` waits happened."""

    def __init__(self, stop_after: int) -> None:
        self.delays: list[float] = []
        self.stop_after = stop_after

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        return len(self.delays) >= self.stop_after


def follower(core: FakeCore, on_change: Recorder) -> SecretFollower:
    return SecretFollower(
        KubeApi(core), REF, on_change, threading.Event(), Backoff(0.5, 4.0), watch_timeout=7
    )


def test_sync_reports_the_listed_state_and_returns_the_list_version() -> None:
    seen = Recorder()
    core = FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "5", {})}, list_rv="9")
    assert follower(core, seen).sync() == "9"
    assert seen.seen == [(REF, "5")]


def test_sync_of_a_missing_secret_reports_none() -> None:
    seen = Recorder()
    follower(FakeCore(), seen).sync()
    assert seen.seen == [(REF, None)]


def test_follow_reports_changes_and_deletion_and_returns_the_last_version() -> None:
    s = v1_secret("keys", "cosign", "11", {})
    lines = [
        event_line("ADDED", s),
        bookmark_line("12"),
        event_line("DELETED", v1_secret("keys", "cosign", "13", {})),
    ]
    seen = Recorder()
    core = FakeCore(watches=[lines])
    assert follower(core, seen).follow("10") == "13"
    assert seen.seen == [(REF, "11"), (REF, None)]
    assert core.calls[0]["resource_version"] == "10" and core.calls[0]["timeout_seconds"] == 7


def test_follow_moves_on_bookmarks_without_reporting() -> None:
    seen = Recorder()
    assert follower(FakeCore(watches=[[bookmark_line("20")]]), seen).follow("10") == "20"
    assert seen.seen == []


def test_run_resumes_from_the_last_version_relists_after_410_and_backs_off_on_errors() -> None:
    s11 = v1_secret("keys", "cosign", "11", {})
    refused = urllib3.exceptions.MaxRetryError(None, "/api", reason=ConnectionRefusedError())  # type: ignore[arg-type]
    core = FakeCore(
        {("keys", "cosign"): v1_secret("keys", "cosign", "5", {})},
        list_rv="10",
        watches=[[event_line("MODIFIED", s11)], [gone_line()], refused],
    )
    seen, waits = Recorder(), Waits(stop_after=1)
    follower(core, seen).run(waits)
    watch_versions = [c["resource_version"] for c in core.calls if c.get("watch")]
    lists = [c for c in core.calls if not c.get("watch")]
    assert watch_versions == ["10", "11", "10"]  # resume from 11, then from the relist after 410
    assert len(lists) == 2
    assert seen.seen == [(REF, "5"), (REF, "11"), (REF, "5")]
    assert waits.delays == [0.5]  # 410 relists at once; only the refused connection waits


def test_backoff_doubles_up_to_its_cap_and_resets_after_an_event() -> None:
    refused = urllib3.exceptions.ProtocolError("connection broken")
    core = FakeCore(list_error=None, watches=[refused, refused, refused, refused, refused])
    waits = Waits(stop_after=5)
    follower(core, Recorder()).run(waits)
    assert waits.delays == [0.5, 1.0, 2.0, 4.0, 4.0]

    backoff = Backoff(0.5, 4.0)
    backoff.next(), backoff.next()
    backoff.reset()
    assert backoff.next() == 0.5


def test_a_failing_callback_does_not_end_the_watch() -> None:
    calls: list[str | None] = []

    def explode_once(ref: SecretRef, secret: Secret | None) -> None:
        calls.append(None if secret is None else secret.resource_version)
        if len(calls) == 1:
            raise RuntimeError("bug in a consumer")

    core = FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "5", {})}, watches=[[]])
    waits = Waits(stop_after=2)  # the second wait comes when the fake has no more watches to serve
    SecretFollower(KubeApi(core), REF, explode_once, threading.Event(), Backoff(0.5, 4.0)).run(waits)
    assert calls == ["5", "5"]  # listed again after the failure, and reported again
    assert waits.delays == [0.5, 1.0]


def test_run_returns_at_once_when_stop_is_already_set() -> None:
    core = FakeCore()
    stop = threading.Event()
    stop.set()
    SecretFollower(KubeApi(core), REF, Recorder(), stop).run()
    assert core.calls == []


def test_watches_that_end_at_once_with_nothing_are_retried_with_backoff_and_a_fresh_list() -> None:
    core = FakeCore({("keys", "cosign"): v1_secret("keys", "cosign", "5", {})}, watches=[[], [], []])
    waits, seen = Waits(stop_after=3), Recorder()
    follower(core, seen).run(waits)
    assert waits.delays == [0.5, 1.0, 2.0]
    assert len([c for c in core.calls if not c.get("watch")]) == 3  # listed again each time
    assert seen.seen == [(REF, "5")] * 3


def test_a_watch_that_held_resets_the_backoff_even_without_events() -> None:
    clock = ManualClock()
    core = FakeCore(
        {("keys", "cosign"): v1_secret("keys", "cosign", "5", {})},
        watches=[[], [], []],
        clock=clock,
        watch_seconds=[0.1, 10.0, 0.1],  # watch 1 and 3 end at once, watch 2 holds 10 s
    )
    waits = Waits(stop_after=2)
    SecretFollower(KubeApi(core), REF, Recorder(), threading.Event(), Backoff(0.5, 4.0), clock=clock).run(
        waits
    )
    assert waits.delays == [0.5, 0.5]  # not 1.0: the quiet watch in between was healthy


def test_a_watch_that_only_brought_a_bookmark_is_followed_again_at_once() -> None:
    core = FakeCore(
        {("keys", "cosign"): v1_secret("keys", "cosign", "5", {})}, watches=[[bookmark_line("12")], []]
    )
    waits = Waits(stop_after=1)
    follower(core, Recorder()).run(waits)
    assert waits.delays == [0.5]  # only the empty second watch waited
    assert [c["resource_version"] for c in core.calls if c.get("watch")] == ["10", "12"]
