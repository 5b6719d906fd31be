"""Benchmark (not a test): what one review carrying megabytes in a single string costs.

An AdmissionReview body may be 8 MiB (the webhook's limit; the API server's own is 3 MiB), and all of
it can sit in one image, name or uid. This times `Reviewer.review` in process, with a verifier that
answers at once (no registry: the time is the event loop's own work, parse → decide → audit → answer)
plus rendering the answer as the HTTP layer does, and prints the sizes of the answer and of the audit
line. Each case is the captured pod review (`tests/samples/pod-create.json`) with one field replaced.

Run: `python3 bench/hostile_sizes_bench.py [--runs N] [--mib M]` from the repository root. Prints a
table; exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.core.admission.policy import AdmissionPolicy, FixedPolicySource, ImagePattern, Policy
from app.core.digests import Digest
from app.core.references import ImageRef
from app.core.trust.keys import load_public_key
from app.core.trust.secretkeys import StaticKeyStore
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict
from app.webhook.app import AsciiJSONResponse
from app.webhook.review import Reviewer
from tests.webhook.reviews import review

APP = "registry.example.com/team/app:1"


class Unsigned:
    """Answers every image at once: no signatures (so the review is a deny, the longest answer)."""

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        return ImageVerdict(ref, Digest.of(str(ref).encode()), (), ())


def _set(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        holder: Any = body
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value

    return change


def cases(size: int) -> dict[str, Callable[[dict[str, Any]], None]]:
    big = "x" * size
    container = ("request", "object", "spec", "containers", 0)
    return {
        "ordinary pod": lambda body: None,
        "image": _set((*container, "image"), "registry.example.com/team/" + big),
        "container name": _set((*container, "name"), big),
        "object name": _set(("request", "name"), big),
        "username": _set(("request", "userInfo", "username"), big),
        "uid": _set(("request", "uid"), big),
    }


def reviewer(lines: list[str]) -> Reviewer:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    policy = Policy("prod", (ImagePattern("registry.example.com/**"),), (load_public_key(pem, "bench"),))
    return Reviewer(
        FixedPolicySource(AdmissionPolicy((policy,))), StaticKeyStore(), Unsigned(), 8.0, lines.append
    )


async def measure(change: Callable[[dict[str, Any]], None], runs: int) -> tuple[float, float, int, int, int]:
    body = review([("app", APP)])
    change(body)
    raw = json.dumps(body).encode()
    times: list[float] = []
    answer_bytes = audit_bytes = status = 0
    for _ in range(runs):
        lines: list[str] = []
        started = time.perf_counter()
        status, answer = await reviewer(lines).review(raw)
        rendered = AsciiJSONResponse(answer, status_code=status).body
        times.append((time.perf_counter() - started) * 1000)
        answer_bytes, audit_bytes = len(rendered), sum(len(line.encode()) for line in lines)
    return len(raw) / 2**20, statistics.median(times), status, answer_bytes, audit_bytes


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # a refused review logs a warning per run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=float, default=7.0, help="size of the hostile string in MiB")
    args = parser.parse_args()
    print(
        f"| one string of {args.mib:g} MiB in | body MiB | event loop ms (median of {args.runs}) "
        "| HTTP status | answer bytes | audit line bytes |"
    )
    print("|---|---|---|---|---|---|")
    for name, change in cases(int(args.mib * 2**20)).items():
        mib, ms, status, answer_bytes, audit_bytes = await measure(change, args.runs)
        print(f"| {name} | {mib:.1f} | {ms:.1f} | {status} | {answer_bytes:,} | {audit_bytes:,} |")


if __name__ == "__main__":
    asyncio.run(main())
