"""Benchmark (not a test): how long `verify` takes, and how many HTTP requests it makes, cold and warm.

Starts Debian's docker-registry on 127.0.0.1 (plain HTTP, and TLS + Bearer token auth), pushes an image
with skopeo, signs it in both layouts (cosign v2 `.sig` and v3 bundle referrer) with the real CLI entry
point, then times `Verifier.verify` built by the composition root (`app.compose`):

- cold:         a fresh registry client for every run (new connections, new token), no verdict cache
- warm client:  one client for all runs (kept-alive connections, cached token), no verdict cache
- warm cache:   one client and a verdict cache (only the tag → digest resolution goes to the registry)

Run: `python3 bench/verify_bench.py [--runs N]` from the repository root. Prints a table; exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import compose
from app.cli.main import main as cli_main
from app.core.references import parse_reference
from app.core.trust.keys import TrustedKey, load_public_key
from app.core.verification.trust_groups import NO_LOG, Trust  # `sign` writes no log entry
from app.registry.settings import RegistrySettings
from tests.support.certs import issue_server_tls, make_token_signing_key
from tests.support.pushing import push_image
from tests.support.registry_server import TestRegistry, start_registry
from tests.support.token_service import TokenService

USER, PASSWORD = "bench", "bench-password"


class DictCache:
    """The simplest verdict cache (the webhook's own cache may add expiry and a size bound)."""

    def __init__(self) -> None:
        self._items: dict[Hashable, object] = {}

    def get(self, key: Hashable) -> object | None:
        return self._items.get(key)

    def put(self, key: Hashable, value: object) -> None:
        self._items[key] = value


@dataclass
class Row:
    registry: str
    mode: str
    reference: str
    wall_ms: list[float]
    requests: list[int]


@contextlib.contextmanager
def registries(workdir: Path) -> Iterator[dict[str, TestRegistry]]:
    plain = start_registry(workdir / "plain")
    pki = workdir / "token" / "pki"
    tls = issue_server_tls(pki)
    service = TokenService(
        signing_key=make_token_signing_key(pki), service="bench-registry", users={USER: PASSWORD}
    ).start()
    token = start_registry(workdir / "token", tls=tls, token_service=service)
    token.username, token.password = USER, PASSWORD
    try:
        yield {"plain http": plain, "tls + token": token}
    finally:
        plain.stop()
        token.stop()


@dataclass(frozen=True)
class Access:
    """How to reach one test registry: CLI options for `sign`, the same as settings for `verify`."""

    insecure: tuple[str, ...]
    ca_files: tuple[str, ...]
    config: Path | None

    def cli_args(self) -> list[str]:
        args = [a for host in self.insecure for a in ("--insecure-registry", host)]
        args += [a for ca in self.ca_files for a in ("--ca-file", ca)]
        return args + (["--registry-config", str(self.config)] if self.config else [])

    def settings(self) -> RegistrySettings:
        return compose.registry_settings_from_cli(
            insecure_registries=self.insecure, ca_file_options=self.ca_files, registry_config=self.config
        )


def access(registry: TestRegistry, workdir: Path) -> Access:
    if registry.tls is None:
        return Access((registry.host,), (), None)
    config = workdir / "docker-config.json"
    config.write_text(json.dumps(registry.docker_config()))
    # the test token service speaks plain HTTP, so its host is listed as insecure
    realm_host = registry.token_service.realm.split("/")[2] if registry.token_service else registry.host
    return Access((realm_host,), (f"{registry.host}={registry.ca_file}",), config)


def sign(image: str, key_file: Path, args: list[str], bundle: bool) -> None:
    os.environ["COSIGN_PASSWORD"] = "bench"
    argv = ["sign", "--key", str(key_file), *args, *(["--bundle"] if bundle else []), image]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli_main(argv)
    if code != 0:
        raise SystemExit(f"signing {image} failed: {err.getvalue()}")


async def measure(settings: RegistrySettings, image: str, key: TrustedKey, mode: str, runs: int) -> Row:
    ref = parse_reference(image)
    walls: list[float] = []
    counts: list[int] = []
    shared = compose.build_registry(settings) if mode != "cold" else None
    cache = DictCache() if mode == "warm cache" else None
    try:
        if shared is not None:  # warm up: first contact, token, and (with a cache) the verdict
            await compose.build_verifier(shared, cache).verify(ref, Trust.keys([key], NO_LOG))
        for _ in range(runs):
            registry = shared or compose.build_registry(settings)
            before = registry.stats.total
            start = time.perf_counter()
            verdict = await compose.build_verifier(registry, cache).verify(ref, Trust.keys([key], NO_LOG))
            walls.append((time.perf_counter() - start) * 1000)
            counts.append(registry.stats.total - before)
            if not verdict.ok or len(verdict.verified) != 2:
                raise SystemExit(f"unexpected verdict for {image}: {verdict.reason()}")
            if shared is None:
                await registry.aclose()
    finally:
        if shared is not None:
            await shared.aclose()
    kind = "digest" if ref.digest else "tag"
    return Row("", mode, kind, walls, counts)


def bench(runs: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sigwebhook-bench-") as tmp, registries(Path(tmp)) as regs:
        work = Path(tmp)
        key_file, pub_file = work / "cosign.key", work / "cosign.pub"
        os.environ["COSIGN_PASSWORD"] = "bench"
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(["generate-key-pair", "--output-key-prefix", str(work / "cosign")])
        key = load_public_key(pub_file.read_bytes(), pub_file.name)
        for name, registry in regs.items():
            digest = push_image(registry, "bench/app", "v1", content=b"bench")
            reach = access(registry, work)
            by_tag = f"{registry.host}/bench/app:v1"
            sign(by_tag, key_file, reach.cli_args(), bundle=False)
            sign(by_tag, key_file, reach.cli_args(), bundle=True)
            for image in (by_tag, f"{registry.host}/bench/app@{digest}"):
                for mode in ("cold", "warm client", "warm cache"):
                    row = asyncio.run(measure(reach.settings(), image, key, mode, runs))
                    row.registry = name
                    rows.append(row)
    return rows


def table(rows: list[Row], runs: int) -> str:
    header = f"{'registry':<12} {'reference':<9} {'mode':<12} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'requests':>9}"
    lines = [f"verify of one image signed in both layouts (v2 .sig + v3 bundle), {runs} runs each", header]
    lines.append("-" * len(header))
    for r in rows:
        requests = "/".join(str(c) for c in sorted(set(r.requests)))
        lines.append(
            f"{r.registry:<12} {r.reference:<9} {r.mode:<12} {statistics.median(r.wall_ms):>10.1f} "
            f"{min(r.wall_ms):>8.1f} {max(r.wall_ms):>8.1f} {requests:>9}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per row (default 20)")
    args = parser.parse_args()
    rows = bench(args.runs)
    print(table(rows, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
