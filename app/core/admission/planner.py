"""`Planner`: `plan` remembered per image text, for the policy and key snapshot in force, and
`judge` per plan and verdict.

Planning an image (parse the reference, find the exemptions and policies that match, gather their
keys, build the `Trust`) depends on nothing but the image text, the `AdmissionPolicy` and the
`KeySnapshot`, both immutable and replaced whole when they change. The API server sends the same
images over and over (every replica of a Deployment, every retry), so a review plans each from memory;
a new policy or snapshot (a rotated key Secret) starts afresh. The plans it hands out are shared, so
the `Trust` of an image is one object across reviews: the verdict cache's key for it is computed once.
Judging depends only on the plan and the verdict: while the verdict cache answers the same verdict
object, an image's outcome is the one judged before (never for an error: those are judged each time).
Pure; meant for one event loop.
"""

from __future__ import annotations

import dataclasses

from app.core.admission.outcomes import ImageOutcome, Plan, judge, plan
from app.core.admission.policy import AdmissionPolicy
from app.core.admission.workloads import ContainerImage
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.verdicts import ImageVerdict

MAX_PLANNED_IMAGES = 4096  # distinct image texts remembered; beyond, the memory starts afresh


class Planner:
    """`plan(container, policy, snapshot)`: what `outcomes.plan` says, from memory when it can."""

    def __init__(self, max_images: int = MAX_PLANNED_IMAGES) -> None:
        self._max = max_images
        self._policy: AdmissionPolicy | None = None
        self._snapshot: KeySnapshot | None = None
        self._planned: dict[str, Plan | ImageOutcome] = {}
        # id(plan) -> (plan, verdict, outcome); the objects are held, so an id is never reused meanwhile
        self._judged: dict[int, tuple[Plan, ImageVerdict, ImageOutcome]] = {}

    def plan(
        self, container: ContainerImage, policy: AdmissionPolicy, snapshot: KeySnapshot
    ) -> Plan | ImageOutcome:
        """The plan for `container`'s image, or its outcome when it needs no verification (told for
        `container`)."""
        if policy is not self._policy or snapshot is not self._snapshot:
            self._forget()
            self._policy, self._snapshot = policy, snapshot
        found = self._planned.get(container.image)
        if found is None:
            found = plan(container, policy, snapshot)
            if len(self._planned) >= self._max:
                self._forget()
            self._planned[container.image] = found
        return _told_for(found, container) if isinstance(found, ImageOutcome) else found

    def judge(
        self, container: ContainerImage, planned: Plan, result: ImageVerdict | BaseException
    ) -> ImageOutcome:
        """`outcomes.judge` of `result` for `planned`, told for `container`."""
        if isinstance(result, BaseException):
            return judge(
                container, planned.reference, planned.policies, planned.grants, result, planned.warned
            )
        entry = self._judged.get(id(planned))
        if entry is not None and entry[0] is planned and entry[1] is result:
            return _told_for(entry[2], container)
        outcome = judge(
            container, planned.reference, planned.policies, planned.grants, result, planned.warned
        )
        if len(self._judged) >= self._max:
            self._judged = {}
        self._judged[id(planned)] = (planned, result, outcome)
        return outcome

    def _forget(self) -> None:
        self._planned, self._judged = {}, {}


def _told_for(outcome: ImageOutcome, container: ContainerImage) -> ImageOutcome:
    return outcome if outcome.container == container else dataclasses.replace(outcome, container=container)
