"""Benchmark (not a test): the webhook under load and faults, with the figures the reliability lane
checks (`tests/reliability/`) measured and printed.

Starts Debian's docker-registry on 127.0.0.1, the fault-injecting proxy in front of it (which counts
requests), and `sigwebhook serve` as a process over HTTPS (its CPU and memory read from `/proc`), then:

- burst:     200 concurrent reviews of 200 distinct cold signed images (1 in 4 with a v3 bundle)
- stampede:  100 concurrent reviews of one cold image (signed; unsigned): registry requests
- flood:     cached reviews of a signed image (by digest) while 100 connections send an unsigned one
- held:      RSS with 1,000 idle TCP connections, 256 idle TLS ones, 20 half-sent 8 MiB bodies
- shutdown:  SIGTERM while a review waits 7 s on its registry

Run: `python3 bench/load_bench.py` from the repository root (about two minutes). Prints a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.signing.keyfiles import encrypt_private_key, generate_ecdsa_key, public_key_pem
from tests.support.certs import ServerTls, issue_server_tls
from tests.support.fault_proxy import FaultProxy
from tests.support.load import closing, percentile, post_reviews, push_signed_images, start_flood
from tests.support.registry_server import TestRegistry, start_registry
from tests.support.served import ServedWebhook
from tests.webhook.reviews import review

PASSWORD = "bench"
Rows = list[tuple[str, str]]


class Bench:
    def __init__(self, work: Path, registry: TestRegistry, proxy: FaultProxy, tls: ServerTls) -> None:
        self.work, self.registry, self.proxy, self.tls = work, registry, proxy, tls
        self.key = work / "cosign.key"
        private = generate_ecdsa_key()
        self.key.write_bytes(encrypt_private_key(private, PASSWORD.encode()))
        (work / "cosign.pub").write_bytes(public_key_pem(private))
        self.served: list[ServedWebhook] = []

    def config(self, *hosts: str, **extra: Any) -> dict[str, Any]:
        """A config trusting the bench key for every image of `hosts` (reached over plain HTTP)."""
        policy = {
            "name": "bench",
            "images": [f"{host}/**" for host in hosts],
            "keys": [{"file": str(self.work / "cosign.pub")}],
            "transparencyLog": "ignore",  # signed here without a log
        }
        return {"registries": {"insecure": list(hosts)}, "policies": [policy], **extra}

    def serve(self, config: dict[str, Any]) -> ServedWebhook:
        served = ServedWebhook.start(config, self.tls, self.work / f"serve-{len(self.served)}")
        self.served.append(served)
        return served

    def push(
        self, repository: str, count: int, signed: bool = True, bundle_every: int = 0, by_digest: bool = False
    ) -> list[str]:
        return asyncio.run(
            push_signed_images(
                self.registry.settings(), self.registry.host, repository, count,
                self.key if signed else None, PASSWORD, bundle_every, by_digest,
            )
        )  # fmt: skip

    def via_proxy(self, image: str) -> str:
        return f"{self.proxy.host}/{image.split('/', 1)[1]}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(bench: Bench) -> Rows:
    images = bench.push("bench/cold", 200, bundle_every=4)
    webhook = bench.serve(bench.config(bench.registry.host))
    cpu = cpu_seconds(webhook.pid)
    started = time.monotonic()
    answers = asyncio.run(post_reviews(webhook.url, webhook.ca_file, [review([("app", i)]) for i in images]))
    wall, cpu = time.monotonic() - started, cpu_seconds(webhook.pid) - cpu
    seconds = [a.seconds for a in answers]
    allowed = sum(1 for a in answers if a.allowed is True)
    (fresh,) = bench.push("bench/after-burst", 1)
    (after,) = asyncio.run(post_reviews(webhook.url, webhook.ca_file, [review([("app", fresh)])]))
    return [
        ("burst: allowed (deadline 8 s)", f"{allowed}/200"),
        ("burst: answer p50 / p99 / max", f"{percentile(seconds, 0.5):.2f} / {percentile(seconds, 0.99):.2f} / {max(seconds):.2f} s"),
        ("burst: wall, webhook CPU", f"{wall:.2f} s, {cpu:.2f} s"),
        ("burst: RSS after", f"{webhook.rss_mb():.0f} MB"),
        ("burst: then a new cold image, /readyz", f"{after.seconds * 1000:.0f} ms, {webhook.get('/readyz')[0]}"),
    ]  # fmt: skip


def stampede(bench: Bench) -> Rows:
    rows: Rows = []
    for name, signed in (("signed", True), ("unsigned", False)):
        (image,) = bench.push(f"bench/stampede-{name}", 1, signed=signed, bundle_every=1)
        image = bench.via_proxy(image)
        config = bench.config(bench.proxy.host)
        bench.proxy.clear()
        one = bench.serve(config)
        asyncio.run(post_reviews(one.url, one.ca_file, [review([("app", image)])]))
        alone = len(bench.proxy.seen)
        many = bench.serve(config)
        bench.proxy.clear()
        bench.proxy.add(".", "delay", 0.05)
        asyncio.run(post_reviews(many.url, many.ca_file, [review([("app", image)]) for _ in range(100)]))
        rows.append(
            (
                f"stampede: 100 reviews of one cold {name} image",
                f"{len(bench.proxy.seen)} requests (one review: {alone})",
            )
        )
        bench.proxy.clear()
    return rows


def flood(bench: Bench) -> Rows:
    (signed,) = bench.push("bench/warm", 1, by_digest=True)  # answered from the cache: no registry
    bench.push("bench/flood", 1, signed=False)
    webhook = bench.serve(bench.config(bench.proxy.host))
    warm, unsigned = (
        review([("app", bench.via_proxy(signed))]),
        review([("app", f"{bench.proxy.host}/bench/flood:0")]),
    )

    def cached(count: int) -> list[float]:
        return [
            asyncio.run(post_reviews(webhook.url, webhook.ca_file, [warm]))[0].seconds for _ in range(count)
        ]

    cached(1)
    quiet = cached(20)
    bench.proxy.add(".", "delay", 0.3)
    stop_flood = start_flood(webhook.url, webhook.ca_file, unsigned, connections=100)
    time.sleep(1.0)
    loud = cached(20)
    stop_flood()
    bench.proxy.clear()
    return [
        ("flood: cached review (by digest) p50 / max, quiet", f"{percentile(quiet, 0.5) * 1000:.0f} / {max(quiet) * 1000:.0f} ms"),
        ("flood: … while 100 connections send unsigned", f"{percentile(loud, 0.5) * 1000:.0f} / {max(loud) * 1000:.0f} ms"),
    ]  # fmt: skip


def held(bench: Bench) -> Rows:
    webhook = bench.serve(bench.config("registry.example"))
    base = webhook.rss_mb()
    with closing([socket.create_connection(("127.0.0.1", webhook.port)) for _ in range(1000)]):
        time.sleep(2)
        tcp = webhook.rss_mb()
        (during,) = asyncio.run(
            post_reviews(webhook.url, webhook.ca_file, [review([("app", "other.example/a:1")])])
        )
    time.sleep(1)
    context = webhook.ssl_context()
    with closing([]) as tls:
        for _ in range(256):
            raw = socket.create_connection(("127.0.0.1", webhook.port), timeout=10)
            tls.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
        time.sleep(1)
        idle_tls = webhook.rss_mb()
        started = time.monotonic()
        while webhook.open_connections() and time.monotonic() - started < 20:
            time.sleep(0.25)
        closed_after = time.monotonic() - started
    size = 8 * 1024 * 1024
    head = b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
    with closing([]) as bodies:
        for _ in range(20):
            half = context.wrap_socket(
                socket.create_connection(("127.0.0.1", webhook.port), timeout=10), server_hostname="127.0.0.1"
            )
            bodies.append(half)
            half.sendall(head)
            half.settimeout(2)
            with contextlib.suppress(OSError):
                half.sendall(b" " * (size // 2))
        halves = webhook.rss_mb()
    return [
        ("held: RSS at start", f"{base:.0f} MB"),
        ("held: 1,000 idle TCP connections", f"{tcp:.0f} MB; a review meanwhile: {during.seconds * 1000:.0f} ms"),
        ("held: 256 idle TLS connections", f"{idle_tls:.0f} MB; all closed after {closed_after:.1f} s"),
        ("held: + 20 half-sent 8 MiB bodies", f"{halves:.0f} MB"),
    ]  # fmt: skip


def shutdown(bench: Bench) -> Rows:
    (image,) = bench.push("bench/shutdown", 1)
    config = bench.config(bench.proxy.host, deadlineSeconds=9)
    config["registries"]["timeoutSeconds"] = 10
    webhook = bench.serve(config)
    bench.proxy.add("HEAD /v2/bench/shutdown/manifests/0", "delay", 7.0)
    body = review([("app", bench.via_proxy(image))])
    answers: list[Any] = []
    client = threading.Thread(target=lambda: answers.extend(asyncio.run(post_reviews(webhook.url, webhook.ca_file, [body], timeout=20))))  # fmt: skip
    client.start()
    time.sleep(0.5)
    signalled = time.monotonic()
    webhook.terminate()
    client.join(timeout=20)
    webhook.wait(timeout=20)
    exited = time.monotonic() - signalled
    audited = any(r.get("uid") == body["request"]["uid"] for r in webhook.audit())
    bench.proxy.clear()
    answer = answers[0] if answers else None
    shown = f"HTTP {answer.status}, allowed={answer.allowed}" if answer else "no answer"
    return [
        ("shutdown: SIGTERM during a 7 s review", f"{shown}, audited={audited}, exit after {exited:.1f} s")
    ]


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )


def main() -> int:
    rows: Rows = []
    with tempfile.TemporaryDirectory(prefix="sigwebhook-load-") as tmp:
        work = Path(tmp)
        registry = start_registry(work / "registry")
        try:
            with FaultProxy(registry.host) as proxy:
                bench = Bench(work, registry, proxy, issue_server_tls(work / "pki", name="webhook"))
                try:
                    for part in (burst, stampede, flood, held, shutdown):
                        rows += part(bench)
                finally:
                    for served in bench.served:
                        served.stop()
        finally:
            registry.stop()
    width = max(len(name) for name, _ in rows)
    print(f"sigwebhook load benchmark - {machine()}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
