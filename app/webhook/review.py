"""One review, start to finish: bytes in → decision → audit line → AdmissionReview response out.

The HTTP layer (`app.webhook.app`) hands the raw body here and sends back the status and JSON it
gets. `review` answers `/validate`: allowed or denied, with warnings for images that only warn-mode
policies refuse. `mutate` answers `/mutate`: always allowed, with a JSON patch pinning each verified
image to its digest (`app.core.admission.pinning`); it never denies, because the validating webhook, called
after every mutating one, is the gate. A malformed review is the caller's bug: HTTP 400 with the
reason. Anything unexpected is a deny that says "internal error, see webhook logs", with the
traceback in the log only (fail closed); on `/mutate` it is an answer without a patch.
Keys are read from the key store's current snapshot; the API server is never called from here.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from app.clock import SYSTEM_CLOCK
from app.core import deadlines, tagreuse
from app.core.admission.audit import ImageEntries, audit_line, audit_record, malformed_record
from app.core.admission.decision import (
    INTERNAL_ERROR,
    CachedVerdict,
    Decision,
    ImageVerifier,
    Planner,
    Started,
    decide,
    finish,
    start,
)
from app.core.admission.pinning import Pin, json_patch, pins
from app.core.admission.policy import AdmissionPolicy
from app.core.admission.refusals import Refusal
from app.core.admission.review import AdmissionRequest, parse_review, review_response
from app.core.errors import MalformedReview
from app.core.kits import collect
from app.core.ports import Clock, KeyStore, PolicySource
from app.webhook.auditsink import fast_json

log = logging.getLogger("sigwebhook.webhook")

# Grace after the decision deadline before the whole review is abandoned (belt and braces: the
# decision itself stops waiting at the deadline).
_OUTER_GRACE_SECONDS = 0.5
_STOPPING = "not verified: the webhook was stopping before the answer was ready; try again"


def write_stdout(line: str) -> None:
    """The default audit sink: one line on stdout, flushed (stdout is the audit stream; logs go to stderr)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class ReviewObserver(Protocol):
    """What is told about each `/validate` answer (`app.webhook.metrics.Metrics`)."""

    def reviewed(self, request: AdmissionRequest, decision: Decision, seconds: float) -> None: ...

    def malformed(self, seconds: float) -> None: ...


@dataclass
class Reviewer:
    """Answers AdmissionReviews with the current policy, the current keys and the verifier it is given."""

    policies: PolicySource
    keys: KeyStore
    verifier: ImageVerifier
    deadline_seconds: float
    audit: Callable[[str], None] = write_stdout  # the webhook's own: `app.webhook.auditsink.AuditWriter`
    clock: Clock = SYSTEM_CLOCK  # durations, the due time, audit timestamps
    # The verifier for one request (with the pod's pull credentials: `app.webhook.podverifiers`).
    verifier_for: Callable[[AdmissionRequest], Awaitable[ImageVerifier]] | None = None
    observer: ReviewObserver | None = None  # told about every /validate answer (the metrics)
    # The verdict of an image when it is cached (`Verifier.cached`): a review answered from it alone
    # is decided at once, with no task or timer (None: every review goes through the verifier).
    cached: CachedVerdict | None = None
    reuse_tags_on_validate: bool = False  # see `app.core.tagreuse`: /mutate always may
    planner: Planner = field(default_factory=Planner)
    entries: ImageEntries = field(default_factory=ImageEntries)  # audit `images` entries, remembered

    async def review(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body answering the AdmissionReview in `body`."""
        started = self.clock.monotonic()
        try:
            request = self._parse(body, "validate", started)
        except MalformedReview as exc:
            self._observe(lambda o: o.malformed(self.clock.monotonic() - started))
            return 400, {"error": f"malformed AdmissionReview: {exc.reason}"}
        with tagreuse.reusing_tags(self.reuse_tags_on_validate):
            decision = await self._decide(request, self.policies.current())
        duration_ms = (self.clock.monotonic() - started) * 1000
        self._audit(request, decision, duration_ms)
        self._observe(lambda o: o.reviewed(request, decision, duration_ms / 1000))
        return 200, review_response(request.uid, decision.allowed, decision.message, decision.warnings)

    async def mutate(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body answering the AdmissionReview in `body` for `/mutate`: allowed,
        with the digest-pinning JSON patch when some verified image is to be pinned."""
        started = self.clock.monotonic()
        try:
            request = self._parse(body, "mutate", started)
        except MalformedReview as exc:
            return 400, {"error": f"malformed AdmissionReview: {exc.reason}"}
        policy = self.policies.current()  # one policy for the decision and its pins
        with tagreuse.reusing_tags():  # what is verified is what gets pinned
            decision = await self._decide(request, policy)
        try:
            found = pins(request, decision, policy)
        except Exception:  # never an error answer from the mutating webhook: /validate decides
            log.exception("review %s: could not compute the pinning patch", request.uid)
            found = ()
        duration_ms = (self.clock.monotonic() - started) * 1000
        self._audit(request, decision, duration_ms, found)
        return 200, review_response(request.uid, True, patch=json_patch(found))

    async def _decide(self, request: AdmissionRequest, policy: AdmissionPolicy) -> Decision:
        started = self._start(request, policy)
        if isinstance(started, Decision):
            return started
        # A task waited for with a timeout, not `asyncio.timeout`: that one waits for the cancelled
        # code to finish, and code that ignores cancellation would hold the answer past the deadline.
        task = asyncio.ensure_future(self._decide_now(request, policy, started))
        try:
            done, _ = await asyncio.wait((task,), timeout=self.deadline_seconds + _OUTER_GRACE_SECONDS)
        except asyncio.CancelledError:
            # The server is stopping and gave up waiting (its graceful shutdown outlasts the deadline,
            # so only something stuck gets here): answer a deny, audited, rather than nothing.
            task.cancel()
            task.add_done_callback(functools.partial(collect, on_error=_abandoned))
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            log.error("review %s: the server stopped before the decision was ready", request.uid)
            return Decision(False, "server stopping", message=_STOPPING)
        if not done:
            task.cancel()
            task.add_done_callback(functools.partial(collect, on_error=_abandoned))
            log.error("review %s: no decision %.1fs after the deadline", request.uid, _OUTER_GRACE_SECONDS)
            message = f"the registry did not answer in time (deadline {self.deadline_seconds:g}s)"
            return Decision(False, "deadline exceeded", message=message, refusal=Refusal.DEADLINE)
        try:
            return task.result()
        except Exception:
            log.exception("review %s: unexpected error while deciding", request.uid)
            return Decision(False, "internal error", message=INTERNAL_ERROR, refusal=Refusal.INTERNAL)

    def _start(self, request: AdmissionRequest, policy: AdmissionPolicy) -> Decision | Started | None:
        """The decision when every image it verifies has a cached verdict, else the review as far as
        the cache takes it (`start`); None without a cache."""
        if self.cached is None:
            return None
        try:
            # A background refresh started here knows when the answer is due, as in `_decide_now`.
            with deadlines.due_at(self.clock.monotonic() + self.deadline_seconds):
                return start(request, policy, self.keys.snapshot(), self.cached, self.planner)
        except Exception:
            log.exception("review %s: unexpected error while deciding", request.uid)
            return Decision(False, "internal error", message=INTERNAL_ERROR, refusal=Refusal.INTERNAL)

    async def _decide_now(
        self, request: AdmissionRequest, policy: AdmissionPolicy, started: Started | None
    ) -> Decision:
        """The decision, verifying what the cache did not answer (`started`; everything when None)."""
        # The work below (registry request slots) knows when the answer is due: see `deadlines`.
        with deadlines.due_at(self.clock.monotonic() + self.deadline_seconds):
            # With pod pull credentials, a verifier that reads them (cached) on its first image.
            verifier = self.verifier if self.verifier_for is None else await self.verifier_for(request)
            if started is not None:
                return await finish(request, started, verifier, self.deadline_seconds, self.planner)
            snapshot = self.keys.snapshot()
            return await decide(request, policy, snapshot, verifier, self.deadline_seconds, self.planner)

    def _parse(self, body: bytes, webhook: str, started: float) -> AdmissionRequest:
        """The request in `body`; a malformed one is logged and audited, then re-raised."""
        document: object = None
        try:
            document = _json(body)
            return parse_review(document)
        except MalformedReview as exc:
            log.warning("malformed AdmissionReview: %s", exc.detail)
            duration_ms, reason = (self.clock.monotonic() - started) * 1000, exc.reason
            self._write_audit(
                lambda: malformed_record(document, reason, webhook, self.clock.now(), duration_ms),
                "a malformed review",
            )
            raise

    def _observe(self, tell: Callable[[ReviewObserver], None]) -> None:
        if self.observer is None:
            return
        try:
            tell(self.observer)
        except Exception:  # a metrics failure must not turn into an admission answer (or a 500)
            log.exception("could not record the review's metrics")

    def _audit(
        self,
        request: AdmissionRequest,
        decision: Decision,
        duration_ms: float,
        pinned: Sequence[Pin] | None = None,
    ) -> None:
        self._write_audit(
            lambda: audit_record(request, decision, self.clock.now(), duration_ms, pinned, self.entries),
            f"review {request.uid}",
        )

    def _write_audit(self, record: Callable[[], dict[str, Any]], what: str) -> None:
        try:
            self.audit(audit_line(record(), fast_json))
        except Exception:  # an audit sink failure must not turn into an admission answer
            log.exception("could not write the audit record of %s", what)


def _abandoned(error: BaseException) -> None:
    """How a decision abandoned at the deadline (or at shutdown) ended, when it failed."""
    log.warning("an abandoned decision ended with %s", type(error).__name__)


def _json(body: bytes) -> object:
    """The parsed body. orjson first (half the time); what it refuses (a lone surrogate, `NaN`,
    UTF-16, a byte order mark, absurd nesting…) is read as the standard library reads it. The one
    difference: orjson reads an integer beyond 64 bits as a float, and no field the webhook reads
    is a number."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise MalformedReview("the body is not JSON", f"the body is not JSON: {type(exc).__name__}") from exc
