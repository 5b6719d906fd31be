"""Benchmark (not a test): what a review costs, beside a no-op webhook on the same server stack, and how
much registry traffic it makes. Prints one table; ratios, not absolute times, are the goals.

Starts Debian's docker-registry on 127.0.0.1 with signed images (cosign v2 `.sig`, v3 bundles, both;
blob descriptors cached in memory, as distribution's sample configuration has it), a proxy in front of
it that counts requests and can stand for a distant registry (every answer sent one round trip after
its request came, the registry's own work overlapping that time as on a machine of its own; every new
connection one round trip more), `sigwebhook serve` and the no-op webhook (`bench/noop_webhook.py`:
same uvicorn, TLS certificate, listener and limits) as processes, then:

- throughput: wrk (Debian's), 32 connections, a 3-container pod by digest, verdicts cached; the no-op
  and sigwebhook alternately, the median of the rounds; per event loop / HTTP parser pair
- latency: the same pod paced at ~200 reviews/s over keep-alive connections (`bench/paced_load.py`)
- the pod by tag: `/validate` (the tag resolved per review, concurrent ones sharing a request) and
  `/mutate` (which pins the digest it verified, so it may reuse a resolution `tagReuseSeconds` old)
- registry requests for 1,000 admissions cycling over 10 tagged images, as the API server sends them
  with pinning (`/mutate`, then `/validate` of the patched pod), after each image was verified once
- cold reviews at a 50 ms round trip: an image signed in both layouts, a v2-only image, a pod of five
  cold images (the webhook's registry connections warm, as in a webhook that is serving); the round
  trips a review waited for one after another, from the proxy's record; the same reviews at RTT 0
- RSS of sigwebhook with 10,000 cached verdicts

Run: `python3 bench/speed_bench.py` from the repository root (about 10 minutes; wrk: `apt-get install
wrk`). `--seconds`, `--verdicts` and `--stacks` shorten it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from app.core.references import parse_reference
from app.registry import OciRegistry
from app.signing.signer import sign_image
from app.signing.signingkey import load_signing_key
from bench import load_bench
from bench.load_bench import PASSWORD, cpu_seconds, machine
from bench.paced_load import paced
from tests.support.certs import ServerTls, issue_server_tls
from tests.support.fault_proxy import FaultProxy, Seen
from tests.support.load import percentile
from tests.support.registry_server import TestRegistry, free_port, start_registry
from tests.support.served import ServedWebhook
from tests.webhook.reviews import review
from tests.webhook.rfc6902 import apply_patch

WRK_CONNECTIONS = 32
Rows = list[tuple[str, str, str, str]]  # figure, no-op, sigwebhook, goal
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("REVIEW_FILE"), "rb"); wrk.body = f:read("*a"); f:close()
"""


@dataclass
class Noop:
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


class Bench(load_bench.Bench):
    """The load benchmark's bench (key, pushes, names through the proxy) with the no-op webhooks and wrk."""

    def __init__(self, work: Path, registry: TestRegistry, proxy: FaultProxy, tls: ServerTls) -> None:
        super().__init__(work, registry, proxy, tls)
        (work / "post.lua").write_text(LUA)
        self.noops: list[Noop] = []

    def start(self, registries: dict[str, Any] | None = None, **server: Any) -> ServedWebhook:
        """`sigwebhook serve` for images on the registry and through the proxy, with `server` settings."""
        config = self.config(self.registry.host, self.proxy.host, server=server)
        config["registries"].update(registries or {})
        return self.serve(config)

    def noop(self, loop: str, http: str) -> Noop:
        port = free_port()
        command = [
            sys.executable, str(Path(__file__).parent / "noop_webhook.py"), "--port", str(port),
            "--cert", str(self.tls.cert_file), "--key", str(self.tls.key_file), "--loop", loop, "--http", http,
        ]  # fmt: skip
        noop = Noop(subprocess.Popen(command, stdout=subprocess.DEVNULL), port)
        self.noops.append(noop)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with httpx.Client(verify=False) as client:  # a probe of our own process
                    if client.get(f"https://127.0.0.1:{port}/healthz").status_code == 200:
                        return noop
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the no-op webhook did not start")

    def push_both_layouts(self, repository: str, count: int) -> list[str]:
        """Images signed with a v3 bundle and a v2 `.sig` signature, by tag, through the proxy."""
        images = self.push(repository, count, bundle_every=1)

        async def sign_v2() -> None:
            key = load_signing_key(self.key, lambda: PASSWORD.encode())
            async with OciRegistry(self.registry.settings()) as registry:
                for image in images:
                    await sign_image(registry, parse_reference(image), key)

        asyncio.run(sign_v2())
        return [self.via_proxy(i) for i in images]

    def body_file(self, name: str, body: dict[str, Any]) -> Path:
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(body))
        return path

    def wrk(self, port: int, path: str, body: Path, seconds: float) -> float:
        """Requests per second wrk measured; raises when any answer was not HTTP 200."""
        command = [
            "wrk", "-t", "1", "-c", str(WRK_CONNECTIONS), "-d", f"{seconds:g}s", "-s", str(self.work / "post.lua"),
            f"https://127.0.0.1:{port}{path}",
        ]  # fmt: skip
        out = subprocess.run(
            command, env={**os.environ, "REVIEW_FILE": str(body)}, capture_output=True, text=True, check=True
        ).stdout
        if "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"wrk saw failed requests:\n{out}")
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if found is None:
            raise RuntimeError(f"no figure in wrk's output:\n{out}")
        return float(found.group(1))

    def stop(self) -> None:
        for served in self.served:
            served.stop()
        for noop in self.noops:
            noop.stop()


def post(url: str, ca_file: Path, body: dict[str, Any], path: str = "/validate") -> dict[str, Any]:
    with httpx.Client(verify=str(ca_file), timeout=30) as client:
        answer: dict[str, Any] = client.post(f"{url}{path}", json=body).json()["response"]
    return answer


def allowed(url: str, ca_file: Path, body: dict[str, Any], path: str = "/validate") -> None:
    answer = post(url, ca_file, body, path)
    if not answer["allowed"]:
        raise RuntimeError(f"the bench's review was denied: {answer.get('status')}")


def pod(images: list[str]) -> dict[str, Any]:
    return review([(f"c{n}", image) for n, image in enumerate(images)])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def stack_rows(bench: Bench, loop: str, http: str, seconds: float, rate: float, rounds: int) -> Rows:
    """Throughput and latency of both webhooks on one event loop + HTTP parser pair."""
    digest_pod, tag_pod = bench.digest_pod, bench.tag_pod  # type: ignore[attr-defined]
    noop, webhook = bench.noop(loop, http), bench.start(eventLoop=loop, http=http)
    allowed(webhook.url, webhook.ca_file, digest_pod)
    allowed(webhook.url, webhook.ca_file, tag_pod)
    by_digest, by_tag = bench.body_file("digest-pod", digest_pod), bench.body_file("tag-pod", tag_pod)
    pairs = []
    for _ in range(rounds):  # alternately, so that a change in the machine's load hits both
        pairs.append((bench.wrk(noop.port, "/validate", by_digest, seconds), bench.wrk(webhook.port, "/validate", by_digest, seconds)))  # fmt: skip
    base, ours = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    body = by_digest.read_bytes()
    quiet = asyncio.run(paced(noop.port, bench.tls.ca_file, "/validate", body, rate, seconds))
    loaded = asyncio.run(paced(webhook.port, bench.tls.ca_file, "/validate", body, rate, seconds))
    tag_validate = bench.wrk(webhook.port, "/validate", by_tag, seconds)
    tag_mutate = bench.wrk(webhook.port, "/mutate", by_tag, seconds)
    noop_mutate = bench.wrk(noop.port, "/mutate", by_tag, seconds)
    webhook.stop()
    webhook = bench.start({"tagReuseOnValidate": True}, eventLoop=loop, http=http)
    allowed(webhook.url, webhook.ca_file, tag_pod)
    tag_validate_reusing = bench.wrk(webhook.port, "/validate", by_tag, seconds)
    p50 = (percentile(quiet.latencies, 0.5), percentile(loaded.latencies, 0.5))
    p99 = (percentile(quiet.latencies, 0.99), percentile(loaded.latencies, 0.99))
    failed = f" ({quiet.failed} / {loaded.failed} failed)" if quiet.failed or loaded.failed else ""
    name = f"{loop} + {http}"
    noop.stop()
    webhook.stop()
    return [
        (f"[{name}] throughput, 3-container pod by digest, cached (wrk, {WRK_CONNECTIONS} conn.)",
         f"{base:,.0f} req/s", f"{ours:,.0f} req/s (ratio {ours / base:.2f})", "ratio ≥ 0.8"),
        (f"[{name}] latency at {rate:g} req/s, p50 / p99{failed}", f"{ms(p50[0])} / {ms(p99[0])}",
         f"{ms(p50[1])} / {ms(p99[1])} ({p50[1] / p50[0]:.2f}× / {p99[1] / p99[0]:.2f}×)", "≤ 1.5× / ≤ 2×"),
        (f"[{name}] the pod by tag, /validate (tag resolved per review, shared)", "",
         f"{tag_validate:,.0f} req/s ({tag_validate / ours:.2f}× by digest)", "≥ 0.5× by digest"),
        (f"[{name}] the pod by tag, /mutate (pins; tag reuse)", f"{noop_mutate:,.0f} req/s",
         f"{tag_mutate:,.0f} req/s ({tag_mutate / ours:.2f}× by digest)", "≥ 0.5× by digest"),
        (f"[{name}] the pod by tag, /validate with tagReuseOnValidate (opt-in)", "",
         f"{tag_validate_reusing:,.0f} req/s ({tag_validate_reusing / ours:.2f}× by digest)", "≥ 0.5× by digest"),
    ]  # fmt: skip


def cycling(bench: Bench) -> Rows:
    """Registry requests for 1,000 admissions over 10 tagged images (mutate, then validate the patched pod)."""
    images = [bench.via_proxy(i) for i in bench.push("bench/cycle", 10)]
    webhook = bench.start()
    with httpx.Client(base_url=webhook.url, verify=str(webhook.ca_file), timeout=30) as client:

        def admit(image: str, pinned: bool) -> None:
            body = pod([image])
            if pinned:
                answer = client.post("/mutate", json=body).json()["response"]
                patch = json.loads(__import__("base64").b64decode(answer.get("patch", "") or "W10="))
                body["request"]["object"] = apply_patch(body["request"]["object"], patch)
            answer = client.post("/validate", json=body).json()["response"]
            if not answer["allowed"]:
                raise RuntimeError(f"denied: {answer.get('status')}")

        rows: Rows = []
        for pinned, what in (
            (True, "with pinning: /mutate then /validate"),
            (False, "/validate only, by tag"),
        ):
            for image in images:
                admit(image, pinned)  # verified once: the verdicts are cached
            bench.proxy.clear()
            started = time.monotonic()
            for number in range(1000):
                admit(images[number % 10], pinned)
            took = time.monotonic() - started
            rows.append(
                (f"registry requests, 1,000 admissions over 10 tags, each admitted once before ({what}, {took:.1f} s)", "",
                 f"{len(bench.proxy.seen)}", "≤ 30" if pinned else "")
            )  # fmt: skip
    webhook.stop()
    return rows


def cold(bench: Bench, rtt: float, reps: int) -> Rows:
    """Cold reviews through the proxy at `rtt` per request and per new connection, and the same kinds
    of review with no delay (what is not waiting on the network: the proxy's, registry's and webhook's
    work), each on images it has not seen."""
    kinds = ("both", "v2", "pod")
    images: dict[tuple[str, float], list[list[str]]] = {}
    for delay in (0.0, rtt):
        both = bench.push_both_layouts(f"bench/cold-both-{delay:g}", reps)
        v2 = [bench.via_proxy(i) for i in bench.push(f"bench/cold-v2-{delay:g}", reps)]
        pods = bench.push_both_layouts(f"bench/cold-pod-{delay:g}", 5 * reps)
        images[("both", delay)] = [[i] for i in both]
        images[("v2", delay)] = [[i] for i in v2]
        images[("pod", delay)] = [pods[5 * n : 5 * (n + 1)] for n in range(reps)]
    warm = bench.push_both_layouts("bench/cold-warm", 5)
    webhook = bench.start()
    took: dict[tuple[str, float], list[float]] = {key: [] for key in images}
    chain: dict[str, list[int]] = {k: [] for k in kinds}
    requests: dict[str, list[int]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    with httpx.Client(base_url=webhook.url, verify=str(webhook.ca_file), timeout=30) as client:
        allowed(webhook.url, webhook.ca_file, pod(warm))  # warms the registry connections, as serving does
        for delay in (0.0, rtt):
            bench.proxy.clear()
            bench.proxy.add(".", "rtt", delay)
            bench.proxy.connection_delay = delay
            for n in range(reps):
                for kind in kinds:
                    seen, used = len(bench.proxy.seen), cpu_seconds(webhook.pid)
                    started = time.monotonic()
                    answer = client.post("/validate", json=pod(images[(kind, delay)][n])).json()["response"]
                    took[(kind, delay)].append(time.monotonic() - started)
                    if not answer["allowed"]:
                        raise RuntimeError(f"denied: {answer.get('status')}")
                    if delay:
                        chain[kind].append(sequential(bench.proxy.seen[seen:]))
                        requests[kind].append(len(bench.proxy.seen) - seen)
                        cpu[kind].append(cpu_seconds(webhook.pid) - used)
    bench.proxy.clear()
    bench.proxy.connection_delay = 0.0
    webhook.stop()
    median = {key: statistics.median(values) for key, values in took.items()}
    one = median[("both", rtt)]

    def row(kind: str, what: str, goal: str, versus_one: bool = False) -> tuple[str, str, str, str]:
        at_rtt, at_zero = median[(kind, rtt)], median[(kind, 0.0)]
        count, depth = statistics.median(requests[kind]), max(chain[kind])
        # Across the images of a pod, one image's request may follow another image's answer by chance:
        # the chain is counted for one image only.
        head = f"{ms(at_rtt)} = {at_rtt / one:.2f}× one cold image (" if versus_one else (
            f"{ms(at_rtt)}: {depth} round trips one after another ({at_rtt / rtt:.1f} × RTT; "
        )  # fmt: skip
        return (
            f"{what}, RTT {rtt * 1000:.0f} ms ({count:.0f} requests)",
            "",
            f"{head}{ms(at_zero)} at RTT 0; webhook CPU {statistics.median(cpu[kind]) * 1000:.0f} ms)",
            goal,
        )

    return [
        row("both", "cold image signed in both layouts", "≤ 4 round trips"),
        row("v2", "cold v2-only image", "≤ 3 round trips"),
        row("pod", "pod of 5 cold images (both layouts)", "≤ 1.1×", versus_one=True),
    ]


def sequential(requests: list[Seen]) -> int:
    """The longest chain of requests each sent after the answer to the one before it: the round trips
    that a review waited for one after another."""
    ordered = sorted(requests, key=lambda seen: seen.started)
    depth: list[int] = []
    for i, request in enumerate(ordered):
        before = (depth[j] for j in range(i) if ordered[j].ended <= request.started)
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def memory(bench: Bench, verdicts: int) -> Rows:
    """RSS of a webhook holding `verdicts` cached verdicts (pods of 50 images by digest)."""
    images = bench.push("bench/rss", verdicts, by_digest=True)
    webhook = bench.start()
    start = webhook.rss_mb()
    with httpx.Client(base_url=webhook.url, verify=str(webhook.ca_file), timeout=60) as client:
        for first in range(0, verdicts, 50):
            answer = client.post("/validate", json=pod(images[first : first + 50])).json()["response"]
            if not answer["allowed"]:
                raise RuntimeError(f"denied: {answer.get('status')}")
    full = webhook.rss_mb()
    webhook.stop()
    return [
        (
            f"RSS with {verdicts:,} cached verdicts",
            "",
            f"{full:.0f} MB (at start {start:.0f} MB)",
            "≤ 150 MB",
        ),
    ]


def available(stack: str) -> bool:
    loop, http = stack.split("/")
    modules = {"uvloop": "uvloop", "httptools": "httptools"}
    needed = [modules[m] for m in (loop, http) if m in modules]
    return all(__import__("importlib").util.find_spec(m) is not None for m in needed)


def main() -> int:
    parser = argparse.ArgumentParser(description="sigwebhook's speed benchmark")
    parser.add_argument("--seconds", type=float, default=8.0, help="per wrk run and paced run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per webhook")
    parser.add_argument("--rate", type=float, default=200.0, help="reviews per second, paced")
    parser.add_argument("--rtt", type=float, default=0.05, help="round-trip time of the distant registry, s")
    parser.add_argument("--reps", type=int, default=5, help="cold reviews of each kind (the median)")
    parser.add_argument("--verdicts", type=int, default=10_000, help="cached verdicts for RSS (0: skip)")
    parser.add_argument(
        "--stacks", default="asyncio/h11,uvloop/httptools", help="event loop/HTTP parser pairs to compare"
    )
    parser.add_argument("--parts", default="stacks,cycling,cold,memory", help="which parts to run")
    args = parser.parse_args()
    chosen = set(args.parts.split(","))
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    rows: Rows = []
    parts: list[Callable[[Bench], Rows]] = []
    for stack in args.stacks.split(",") if "stacks" in chosen else ():
        if available(stack):
            loop, http = stack.split("/")
            parts.append(
                lambda b, lo=loop, h=http: stack_rows(b, lo, h, args.seconds, args.rate, args.rounds)
            )  # type: ignore[misc]
        else:
            print(f"skipping {stack}: not installed", file=sys.stderr)
    if "cycling" in chosen:
        parts.append(cycling)
    if "cold" in chosen:
        parts.append(lambda b: cold(b, args.rtt, args.reps))
    if args.verdicts and "memory" in chosen:
        parts.append(lambda b: memory(b, args.verdicts))
    with tempfile.TemporaryDirectory(prefix="sigwebhook-speed-") as tmp:
        work = Path(tmp)
        registry = start_registry(work / "registry", descriptor_cache=True)
        try:
            with FaultProxy(registry.host) as proxy:
                bench = Bench(work, registry, proxy, issue_server_tls(work / "pki", name="webhook"))
                bench.digest_pod = pod(bench.push("bench/pod", 3, by_digest=True))  # type: ignore[attr-defined]
                bench.tag_pod = pod(bench.push("bench/tagged", 3))  # type: ignore[attr-defined]
                try:
                    for part in parts:
                        rows += part(bench)
                        print(f"... {rows[-1][0]}: {rows[-1][2]}", file=sys.stderr)
                finally:
                    bench.stop()
        finally:
            registry.stop()
    header = ("figure", "no-op webhook", "sigwebhook", "goal")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"sigwebhook speed benchmark - {machine()}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
