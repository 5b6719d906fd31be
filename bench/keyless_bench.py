"""Benchmark (not a test): what keyless and transparency-log verification cost, in registry round trips
and in CPU time per signature.

1. Round trips. Starts Debian's docker-registry on 127.0.0.1, pushes two images with skopeo and has the
   private Sigstore instance of the tests (`tests/support/sigstore`) sign each in both layouts (a v2
   `.sig` layer with its Rekor annotation, a v3 bundle with a Rekor v1 entry): one with a key, one
   keylessly. Then verifies each cold (a new registry client, no verdict cache) through the composition
   root, by tag and by digest, and counts the HTTP requests. Proofs, chains and SCTs are checked offline,
   so the keyless image must cost exactly the requests of the key-signed one.
2. CPU time per signature (`time.process_time`), for the pure core only (no I/O): the signature
   material is parsed from its bytes and verified (`entity_from_layer` / `verify_bundle_for_artifact` +
   `verify_entity`), for a key without a log, a key and keyless with a Rekor v1 SET (v2 layer), with a
   SET + inclusion proof + checkpoint (v3 bundle), keyless with a Rekor v2 proof + RFC 3161 timestamp,
   and two real public-good signatures (from `tests/assets/interop`) against the built-in root.

Run: `python3 bench/keyless_bench.py [--runs N] [--iterations N]` from the repository root (needs
`docker-registry`, `skopeo` and `openssl`, as the tests do). Prints two tables; exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import compose
from app.core.digests import Digest
from app.core.references import parse_reference
from app.core.trust.builtin import public_good
from app.core.trust.identities import IdentityMatcher
from app.core.trust.keys import trusted_key_from
from app.core.trust.roots import TrustedRoot, parse_trusted_root
from app.core.trust.signers import IdentitySigner, KeySigner, TrustedSigner
from app.core.verification.artifacts import verify_bundle_for_artifact
from app.core.verification.entity_checks import Requirements, verify_entity
from app.core.verification.layer_entities import entity_from_layer
from app.core.verification.trust_groups import NO_LOG, Trust
from tests.support.pushing import RawPusher, push_image
from tests.support.registry_server import TestRegistry, start_registry
from tests.support.sigstore.images import push_v2, push_v3, v2_signature
from tests.support.sigstore.instance import GITHUB, WORKFLOW, PrivateSigstore, Signing, encode

INTEROP = Path(__file__).resolve().parents[1] / "tests" / "assets" / "interop"
REQUIRED = Requirements()
IDENTITY = IdentitySigner(IdentityMatcher.build(subject=WORKFLOW, issuer=GITHUB))


# --- 1. round trips ------------------------------------------------------------------------------


def signed_image(registry: TestRegistry, sigstore: PrivateSigstore, name: str, signing: Signing) -> str:
    digest = push_image(registry, f"bench/{name}", "v1", content=name.encode())
    with RawPusher(registry) as raw:
        push_v2(raw, f"bench/{name}", digest, sigstore, signing)
        push_v3(raw, f"bench/{name}", digest, sigstore, signing)
    return f"{registry.host}/bench/{name}@{digest}"


async def cold_requests(registry: TestRegistry, image: str, trust: Trust, runs: int) -> list[int]:
    """HTTP requests of each cold verification (a new client each time, no verdict cache)."""
    settings = compose.registry_settings_from_cli(insecure_registries=(registry.host,))
    counts = []
    for _ in range(runs):
        client = compose.build_registry(settings)
        verdict = await compose.build_verifier(client).verify(parse_reference(image), trust)
        counts.append(client.stats.total)
        await client.aclose()
        if len(verdict.verified) != 2:
            raise SystemExit(f"{image} did not verify in both layouts: {verdict.reason()}")
    return counts


def round_trips(workdir: Path, sigstore: PrivateSigstore, root: TrustedRoot, runs: int) -> list[str]:
    registry = start_registry(workdir / "registry")
    try:
        key_signing, keyless_signing = sigstore.with_key(), sigstore.keyless()
        key = KeySigner(trusted_key_from(key_signing.key.public_key(), "bench key"))
        rows = []
        for label, signing, signer in (("key", key_signing, key), ("keyless", keyless_signing, IDENTITY)):
            by_digest = signed_image(registry, sigstore, label, signing)
            by_tag = by_digest.split("@")[0] + ":v1"
            trust = Trust.of([(signer, root, REQUIRED)])
            for reference, image in (("tag", by_tag), ("digest", by_digest)):
                counts = asyncio.run(cold_requests(registry, image, trust, runs))
                rows.append(f"| {label} | {reference} | {'/'.join(str(c) for c in sorted(set(counts)))} |")
        return rows
    finally:
        registry.stop()


# --- 2. CPU time per signature -------------------------------------------------------------------


def cpu_cases(sigstore: PrivateSigstore, root: TrustedRoot) -> dict[str, Callable[[], object]]:
    """Each case: parse the signature material from bytes and verify it (what one signature costs)."""
    now = datetime.now(UTC)
    payload = (
        b'{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:'
        + b"0" * 64
        + b'"},"type":"cosign container image signature"},"optional":null}'
    )
    key_signing, keyless_signing = sigstore.with_key(), sigstore.keyless()
    key = KeySigner(trusted_key_from(key_signing.key.public_key(), "bench key"))

    def layer(
        signing: Signing, signer: TrustedSigner, requirements: Requirements, log: bool
    ) -> Callable[[], object]:
        signature, annotations = v2_signature(sigstore, signing, payload, log=log)
        return lambda: verify_entity(
            entity_from_layer(annotations, signature, payload), root, [signer], requirements, now
        )

    image = Digest.of(b"bench image manifest")

    def bundle(signing: Signing, signer: TrustedSigner, log: str, tsa: bool) -> Callable[[], object]:
        data = encode(sigstore.sign_statement(str(image), signing, log, tsa))
        return lambda: verify_bundle_for_artifact(data, image, None, root, [signer], REQUIRED, now)

    return {
        "key, no log entry (`transparencyLog: ignore`), v2 layer": layer(key_signing, key, NO_LOG, False),
        "key, Rekor v1 SET, v2 layer": layer(key_signing, key, REQUIRED, True),
        "key, Rekor v1 SET + inclusion proof + checkpoint, v3 bundle": bundle(key_signing, key, "v1", False),
        "keyless, Rekor v1 SET, v2 layer": layer(keyless_signing, IDENTITY, REQUIRED, True),
        "keyless, Rekor v1 SET + inclusion proof + checkpoint, v3 bundle": bundle(keyless_signing, IDENTITY, "v1", False),
        "keyless, Rekor v2 inclusion proof + checkpoint + RFC 3161 timestamp, v3 bundle": bundle(keyless_signing, IDENTITY, "v2", True),
        **public_good_cases(now),
    }  # fmt: skip


def public_good_cases(now: datetime) -> dict[str, Callable[[], object]]:
    """Two real signatures from the vendored vectors, against the built-in public-good root."""
    data = (INTEROP / "containers-image/fixtures/dir-img-cosign-fulcio-rekor-valid/signature-1").read_bytes()
    document = json.loads(data[len(b"\x00sigstore-json\n") :])
    payload, annotations = base64.b64decode(document["payload"]), document["annotations"]
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    oauth = "https://github.com/login/oauth"
    mitr = IdentitySigner(IdentityMatcher.build(subject="mitr@redhat.com", issuer=oauth))
    cody = IdentitySigner(IdentityMatcher.build(subject="cody@soyland.com", issuer=oauth))
    attestation = (INTEROP / "cosign/oci-attestation.sigstore.json").read_bytes()
    subject = Digest("sha256", "732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4")
    root = public_good()
    return {
        "public-good keyless, Rekor v1 SET, v2 layer (containers/image vector)": lambda: verify_entity(
            entity_from_layer(annotations, signature, payload), root, [mitr], REQUIRED, now
        ),
        "public-good keyless, Rekor v1 SET + proof + checkpoint, v0.3 bundle (cosign vector)": lambda: (
            verify_bundle_for_artifact(attestation, subject, None, root, [cody], REQUIRED, now)
        ),
    }


def cpu_rows(cases: dict[str, Callable[[], object]], iterations: int, runs: int) -> list[str]:
    rows = []
    for name, case in cases.items():
        case()  # once: a failure stops the benchmark, and caches (the built-in root) are warm
        per_run = []
        for _ in range(runs):
            start = time.process_time()
            for _ in range(iterations):
                case()
            per_run.append((time.process_time() - start) / iterations * 1e6)
        rows.append(f"| {name} | {statistics.median(per_run):.0f} | {min(per_run):.0f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--runs", type=int, default=10, help="cold verifications / CPU runs per row (default 10)"
    )
    parser.add_argument("--iterations", type=int, default=200, help="verifications per CPU run (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sigwebhook-keyless-bench-") as tmp:
        sigstore = PrivateSigstore(Path(tmp) / "sigstore")
        root = parse_trusted_root(sigstore.trusted_root(), "private")
        trips = round_trips(Path(tmp), sigstore, root, args.runs)
        cpu = cpu_rows(cpu_cases(sigstore, root), args.iterations, args.runs)
    print(f"Cold verification of one image signed in both layouts (v2 .sig + v3 bundle), {args.runs} runs")
    print("| signed with | reference | HTTP requests |\n|---|---|---|")
    print("\n".join(trips))
    print(f"\nCPU time per signature: parse + verify, {args.iterations} per run, {args.runs} runs")
    print("| signature | median µs | min µs |\n|---|---|---|")
    print("\n".join(cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
