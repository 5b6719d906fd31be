"""The deny matrix: every case that must be denied, through the real CLI and the real registry.

Each case arranges an image in a real docker-registry (pushed with skopeo, signed with `sigwebhook sign`,
then tampered with by `tests.support.tamper` the way someone with push access could; arrangements in
`tests.support.deny_cases`), runs `sigwebhook verify -o json` and checks the exit code, the JSON report and
the one-line reason on stderr, for the cosign v2 (`.sig` tag) and v3 (bundle referrer) layouts wherever
the case applies. Each case runs the CLI entry point in process; one more test runs `python -m app verify`
in a real subprocess over every case's image at once.
Positive controls sit in the same matrix (the untouched signed images, and hand-built signatures made by
the same helpers as the broken ones but left intact), so it cannot pass by denying everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.core.formats.dsse import COSIGN_SIGN_PREDICATE
from app.core.verification.verdicts import SignatureFormat
from tests.fixtures.signing import KeyPair, run_cli, run_cli_in_process
from tests.support import deny_cases as arrange
from tests.support.deny_cases import V2, V3, Target, World
from tests.support.registry_server import TestRegistry

SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
NOT_VERIFIED = "signature does not verify with any trusted key"
UNSIGNED = "no signatures found"


# --- the matrix --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row: how to arrange it and what `verify` must say.

    `reason` is None for an allowed image. `formats` are the layouts of the signatures that verified or
    were rejected (empty when there were none to find); `error` says the check stopped before any."""

    setup: Callable[[World], Target]
    reason: str | None
    formats: tuple[SignatureFormat, ...] = ()
    error: bool = False


CASES: dict[str, Case] = {
    # positive controls: what the denied cases below break, left intact
    "v2 untouched signature verifies": Case(arrange.untouched(V2), None, (V2,)),
    "v3 untouched signature verifies": Case(arrange.untouched(V3), None, (V3,)),
    "v2 hand-built valid signature verifies": Case(
        arrange.hand_built_sig_layer(arrange.cosign_payload), None, (V2,)
    ),
    "v3 hand-built sign-predicate bundle verifies": Case(
        arrange.hand_built_bundle(arrange.signed_statement(COSIGN_SIGN_PREDICATE), COSIGN_SIGN_PREDICATE),
        None,
        (V3,),
    ),
    "private registry with credentials verifies": Case(
        arrange.private_registry(credentials=True), None, (V2, V3)
    ),
    # must be denied
    "unsigned": Case(arrange.unsigned, UNSIGNED),
    "v2 signed by another key": Case(arrange.signed_by_another_key(V2), NOT_VERIFIED, (V2,)),
    "v3 signed by another key": Case(arrange.signed_by_another_key(V3), NOT_VERIFIED, (V3,)),
    "v2 tag moved after signing": Case(arrange.tag_moved_after_signing(V2), UNSIGNED),
    "v3 tag moved after signing": Case(arrange.tag_moved_after_signing(V3), UNSIGNED),
    "v2 signature copied onto another image": Case(
        arrange.copied_onto_another_image(V2), "claims digest", (V2,)
    ),
    "v3 signature copied onto another image": Case(
        arrange.copied_onto_another_image(V3), "bundle subject does not name the image", (V3,)
    ),
    "v2 payload changed after signing": Case(arrange.payload_changed_after_signing(V2), NOT_VERIFIED, (V2,)),
    "v3 payload changed after signing": Case(arrange.payload_changed_after_signing(V3), NOT_VERIFIED, (V3,)),
    "v2 signature annotation not base64": Case(
        arrange.signature_annotation_not_base64, "garbage: signature annotation is not valid base64", (V2,)
    ),
    "v2 signed payload not JSON": Case(
        arrange.hand_built_sig_layer(arrange.not_json), "garbage: payload is not JSON", (V2,)
    ),
    "v3 bundle blob is garbage JSON": Case(
        arrange.hand_built_bundle(arrange.garbage_json, COSIGN_SIGN_PREDICATE),
        "garbage: bundle is not JSON",
        (V3,),
    ),
    "v3 attestation with another predicate": Case(
        arrange.hand_built_bundle(arrange.signed_statement(SLSA_PROVENANCE), SLSA_PROVENANCE),
        f"bundle predicateType {SLSA_PROVENANCE} is not {COSIGN_SIGN_PREDICATE}",
        (V3,),
    ),
    "missing tag": Case(arrange.missing_tag, "not found", error=True),
    "missing repository": Case(arrange.missing_repository, "not found", error=True),
    "missing digest": Case(arrange.missing_digest, "not found", error=True),
    "registry down": Case(arrange.registry_down, "unreachable", error=True),
    "private registry without credentials": Case(
        arrange.private_registry(credentials=False),
        "requires authentication and no credentials are configured",
        error=True,
    ),
}


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest,
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The registries, keys and shared images of this module's cases (the TLS registry on demand)."""

    def private() -> TestRegistry:
        registry: TestRegistry = request.getfixturevalue("tls_registry")
        return registry

    shared = World(plain_registry, private, key_pairs, tmp_path_factory.mktemp("deny-matrix"))
    yield shared
    shared.raw.close()


@pytest.fixture(scope="module")
def targets(world: World) -> Callable[[str], Target]:
    """`targets(name)` arranges the case `name` once per module and returns what to verify."""
    arranged: dict[str, Target] = {}

    def target(name: str) -> Target:
        if name not in arranged:
            arranged[name] = CASES[name].setup(world)
        return arranged[name]

    return target


def check_report(case: Case, target: Target, report: dict[str, Any], stderr: str, trusted: KeyPair) -> None:
    """The JSON report of one image and its stderr lines match what `case` expects."""
    if target.digest is not None:
        assert report["digest"] == str(target.digest)
    rejected, lines = report["rejected"], stderr.splitlines()
    formats = {f.value for f in case.formats}
    if case.reason is None:
        assert lines == [], stderr
        assert report["verified"] is True and rejected == [] and report["error"] is None
        assert {(s["format"], s["key"]) for s in report["signatures"]} == {
            (f, trusted.public.name) for f in formats
        }
        return
    assert report["verified"] is False and report["signatures"] == []
    prefix = f"sigwebhook: {target.image}: not verified: "
    assert len(lines) == 1 and lines[0].startswith(prefix), stderr
    assert case.reason in lines[0].removeprefix(prefix)
    if case.error:
        assert case.reason in report["error"] and rejected == []
    else:
        assert report["error"] is None and {r["format"] for r in rejected} == formats, report
        assert all(case.reason in r["reason"] for r in rejected), rejected


def verify_args(world: World, args: list[str], images: list[str]) -> list[str]:
    return [
        "verify",
        "--insecure-ignore-tlog",
        "--key",
        str(world.trusted.public),
        *args,
        "-o",
        "json",
        *images,
    ]


@pytest.mark.parametrize("name", list(CASES))
def test_verify_allows_or_denies_each_case_with_its_reason_and_no_traceback(
    world: World, targets: Callable[[str], Target], name: str
) -> None:
    case, target = CASES[name], targets(name)
    result = run_cli_in_process(*verify_args(world, target.args, [target.image]))
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == (0 if case.reason is None else 1), result.stderr
    (report,) = json.loads(result.stdout)
    check_report(case, target, report, result.stderr, world.trusted)


def test_the_real_process_gives_every_case_the_same_verdict_and_hides_none(
    world: World, targets: Callable[[str], Target]
) -> None:
    # `python -m app` in a subprocess with every image at once (one run per credentials file, since a
    # case without credentials must not get them): the exit code, stderr and shutdown of a real process,
    # and no image's failure hiding another's verdict.
    groups: dict[str | None, list[str]] = {}
    for name in CASES:
        groups.setdefault(registry_config(targets(name).args), []).append(name)
    for names in groups.values():
        options = list(dict.fromkeys(pair for name in names for pair in option_pairs(targets(name).args)))
        images = [targets(name).image for name in names]
        result = run_cli(*verify_args(world, [a for pair in options for a in pair], images))
        assert "Traceback" not in result.stderr + result.stdout
        denied = any(CASES[name].reason is not None for name in names)
        assert result.returncode == (1 if denied else 0), result.stderr
        assert len(result.stderr.splitlines()) == sum(CASES[name].reason is not None for name in names)
        reports = json.loads(result.stdout)
        assert [r["image"] for r in reports] == images
        for name, report in zip(names, reports, strict=True):
            target = targets(name)
            own = [
                line
                for line in result.stderr.splitlines()
                if line.startswith(f"sigwebhook: {target.image}: ")
            ]
            check_report(CASES[name], target, report, "\n".join(own), world.trusted)
    assert len(groups) == 2  # the private registry with and without credentials


def option_pairs(args: list[str]) -> list[tuple[str, str]]:
    """`["--opt", "value", …]` as pairs, so that options of several cases can be merged."""
    assert len(args) % 2 == 0 and all(a.startswith("--") for a in args[::2]), args
    return list(zip(args[::2], args[1::2], strict=True))


def registry_config(args: list[str]) -> str | None:
    return dict(option_pairs(args)).get("--registry-config")
