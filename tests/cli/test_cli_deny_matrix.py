"""The deny matrix of issue 2: every case that must be denied, through the real CLI and the real registry.

Each case arranges an image in a real docker-registry (pushed with skopeo, signed with `sigwebhook sign`,
then tampered with by `tests.support.tamper` the way someone with push access could), runs
`python -m app verify` in a subprocess and checks the exit code, the JSON report and the one-line reason
on stderr, for the cosign v2 (`.sig` tag) and v3 (bundle referrer) layouts wherever the case applies.
Positive controls sit in the same matrix (the untouched signed images, and hand-built signatures made by
the same helpers as the broken ones but left intact), so it cannot pass by denying everything.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from app.core.digests import Digest
from app.core.dsse import COSIGN_SIGN_PREDICATE
from app.core.simplesigning import build_payload
from app.core.verdicts import SignatureFormat
from app.signing.signingkey import SigningKey, load_signing_key
from tests.fixtures.signing import KeyPair, run_cli, run_cli_in_process, sign_image
from tests.support import tamper
from tests.support.pushing import RawPusher, push_image
from tests.support.registry_server import TestRegistry, free_port

V2, V3 = SignatureFormat.COSIGN_V2_SIG_TAG, SignatureFormat.COSIGN_V3_BUNDLE
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
NOT_VERIFIED = "signature does not verify with any trusted key"
UNSIGNED = "no signatures found"


@dataclass(frozen=True)
class Target:
    """What to verify: the image argument, the registry options, and the digest the report must name."""

    image: str
    args: list[str]
    digest: Digest | None = None


class World:
    """Registries, keys and images shared by the module's cases (images are made on first use)."""

    def __init__(self, request: pytest.FixtureRequest, key_pairs: dict[str, KeyPair], tmp: Path) -> None:
        self._request = request
        self.registry: TestRegistry = request.getfixturevalue("plain_registry")
        self.trusted, self.stranger = key_pairs["ecdsa-p256"], key_pairs["rsa-openssl"]
        self.raw = RawPusher(self.registry)
        self.tmp = tmp
        self._signed: dict[SignatureFormat, tuple[str, Digest]] = {}

    @property
    def args(self) -> list[str]:
        return ["--insecure-registry", self.registry.host]

    @cached_property
    def signing_key(self) -> SigningKey:
        """The trusted key's private half, for signatures the helpers build by hand."""
        password = (self.trusted.password or "").encode()
        return load_signing_key(self.trusted.private, lambda: password)

    def image(self, repo: str, tag: str = "v1") -> str:
        return f"{self.registry.host}/{repo}:{tag}"

    def fresh(self, name: str) -> tuple[str, Digest]:
        """A new repository holding one unsigned image at tag `v1` (content unique to it)."""
        repo = f"deny/{name}-{uuid.uuid4().hex[:8]}"
        return repo, push_image(self.registry, repo, "v1", content=repo.encode())

    def sign(self, repo: str, fmt: SignatureFormat, key: KeyPair | None = None) -> None:
        sign_image(self.image(repo), key or self.trusted, self.args, bundle=fmt is V3)

    def signed(self, fmt: SignatureFormat) -> tuple[str, Digest]:
        """One image signed by the trusted key in `fmt` only, shared by the cases that leave it intact."""
        if fmt not in self._signed:
            repo, digest = self.fresh(f"signed-{fmt.value}")
            self.sign(repo, fmt)
            self._signed[fmt] = (repo, digest)
        return self._signed[fmt]

    @cached_property
    def private(self) -> TestRegistry:
        registry: TestRegistry = self._request.getfixturevalue("tls_registry")
        return registry

    def private_args(self, *, credentials: bool) -> list[str]:
        assert self.private.ca_file is not None
        args = ["--ca-file", f"{self.private.host}={self.private.ca_file}"]
        if credentials:
            config = self.tmp / "docker-config.json"
            config.write_text(json.dumps(self.private.docker_config()))
            args += ["--registry-config", str(config)]
        return args

    @cached_property
    def private_image(self) -> tuple[str, Digest]:
        """An image in the TLS + htpasswd registry, signed by the trusted key in both layouts."""
        repo = f"deny/private-{uuid.uuid4().hex[:8]}"
        digest = push_image(self.private, repo, "v1", content=repo.encode())
        image = f"{self.private.host}/{repo}:v1"
        for bundle in (False, True):
            sign_image(image, self.trusted, self.private_args(credentials=True), bundle=bundle)
        return image, digest


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, key_pairs: dict[str, KeyPair], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    shared = World(request, key_pairs, tmp_path_factory.mktemp("deny-matrix"))
    yield shared
    shared.raw.close()


# --- arrangements: each returns what to verify -------------------------------------------------------


def untouched(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, digest = w.signed(fmt)
        return Target(w.image(repo), w.args, digest)

    return arrange


def unsigned(w: World) -> Target:
    repo, digest = w.fresh("unsigned")
    return Target(w.image(repo), w.args, digest)


def signed_by_another_key(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, digest = w.fresh("stranger")
        w.sign(repo, fmt, key=w.stranger)
        return Target(w.image(repo), w.args, digest)

    return arrange


def tag_moved_after_signing(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, signed = w.fresh("moved")
        w.sign(repo, fmt)
        moved = push_image(w.registry, repo, "v1", content=b"not what was reviewed")
        assert moved != signed
        return Target(w.image(repo), w.args, moved)  # the report must name the new content

    return arrange


def copied_onto_another_image(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, source = w.signed(fmt)
        target = push_image(w.registry, repo, f"other-{fmt.value}", content=b"never signed " + fmt.encode())
        if fmt is V2:
            tamper.copy_sig_manifest(w.raw, repo, source, target)
        else:
            tamper.copy_referrer(w.raw, repo, source, target)
        return Target(w.image(repo, f"other-{fmt.value}"), w.args, target)

    return arrange


def payload_changed_after_signing(fmt: SignatureFormat) -> Callable[[World], Target]:
    # The change keeps every claim true (same image digest), so only the signature can catch it.
    def arrange(w: World) -> Target:
        repo, digest = w.fresh("payload")
        w.sign(repo, fmt)
        if fmt is V2:
            payload = json.loads(tamper.sig_payload(w.raw, repo, digest))
            assert payload["critical"]["image"]["docker-manifest-digest"] == str(digest)
            payload["optional"] = {"approved-by": "nobody who signed this"}
            tamper.replace_sig_payload(w.raw, repo, digest, json.dumps(payload).encode())
        else:
            statement = tamper.bundle_statement(w.raw, repo, digest)
            assert statement["subject"][0]["digest"] == {"sha256": digest.hex}
            statement["subject"][0]["annotations"] = {"approved-by": "nobody who signed this"}
            tamper.replace_bundle_statement(w.raw, repo, digest, json.dumps(statement).encode())
        return Target(w.image(repo), w.args, digest)

    return arrange


def signature_annotation_not_base64(w: World) -> Target:
    repo, digest = w.fresh("not-base64")
    w.sign(repo, V2)
    tamper.set_sig_annotation(w.raw, repo, digest, "this is *not* base64!")
    return Target(w.image(repo), w.args, digest)


def hand_built_sig_layer(payload: Callable[[World, str, Digest], bytes]) -> Callable[[World], Target]:
    """A `.sig` layer holding `payload`, signed by the trusted key (so parsing it is what decides)."""

    def arrange(w: World) -> Target:
        repo, digest = w.fresh("hand-sig")
        tamper.push_sig_layer(w.raw, repo, digest, payload(w, repo, digest), w.signing_key)
        return Target(w.image(repo), w.args, digest)

    return arrange


def cosign_payload(w: World, repo: str, digest: Digest) -> bytes:
    return build_payload(f"{w.registry.host}/{repo}", digest)


def not_json(w: World, repo: str, digest: Digest) -> bytes:
    return b"critical: not json at all " + str(digest).encode()


def hand_built_bundle(bundle: Callable[[World, Digest], bytes], predicate: str) -> Callable[[World], Target]:
    """A referrer (listed in the fallback index) holding `bundle`."""

    def arrange(w: World) -> Target:
        repo, digest = w.fresh("hand-bundle")
        tamper.push_bundle_referrer(w.raw, repo, digest, bundle(w, digest), predicate)
        return Target(w.image(repo), w.args, digest)

    return arrange


def signed_statement(predicate: str) -> Callable[[World, Digest], bytes]:
    return lambda w, digest: tamper.signed_bundle(w.signing_key, digest, predicate)


def garbage_json(w: World, digest: Digest) -> bytes:
    return b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": '


def missing_tag(w: World) -> Target:
    repo, _ = w.signed(V2)
    return Target(w.image(repo, "never-pushed"), w.args)


def missing_repository(w: World) -> Target:
    return Target(w.image(f"deny/never-pushed-{uuid.uuid4().hex[:8]}"), w.args)


def missing_digest(w: World) -> Target:
    repo, _ = w.signed(V2)
    return Target(f"{w.registry.host}/{repo}@sha256:{'0' * 64}", w.args)


def registry_down(w: World) -> Target:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    return Target(f"{host}/deny/app:v1", ["--insecure-registry", host])


def private_registry(credentials: bool) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        image, digest = w.private_image
        return Target(image, w.private_args(credentials=credentials), digest if credentials else None)

    return arrange


# --- the matrix --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row: how to arrange it and what `verify` must say.

    `reason` is None for an allowed image. `formats` are the layouts of the signatures that verified or
    were rejected (empty when there were none to find); `error` says the check stopped before any."""

    arrange: Callable[[World], Target]
    reason: str | None
    formats: tuple[SignatureFormat, ...] = ()
    error: bool = False


CASES: dict[str, Case] = {
    # positive controls: what the denied cases below break, left intact
    "v2 untouched signature verifies": Case(untouched(V2), None, (V2,)),
    "v3 untouched signature verifies": Case(untouched(V3), None, (V3,)),
    "v2 hand-built valid signature verifies": Case(hand_built_sig_layer(cosign_payload), None, (V2,)),
    "v3 hand-built sign-predicate bundle verifies": Case(
        hand_built_bundle(signed_statement(COSIGN_SIGN_PREDICATE), COSIGN_SIGN_PREDICATE), None, (V3,)
    ),
    "private registry with credentials verifies": Case(private_registry(credentials=True), None, (V2, V3)),
    # must be denied
    "unsigned": Case(unsigned, UNSIGNED),
    "v2 signed by another key": Case(signed_by_another_key(V2), NOT_VERIFIED, (V2,)),
    "v3 signed by another key": Case(signed_by_another_key(V3), NOT_VERIFIED, (V3,)),
    "v2 tag moved after signing": Case(tag_moved_after_signing(V2), UNSIGNED),
    "v3 tag moved after signing": Case(tag_moved_after_signing(V3), UNSIGNED),
    "v2 signature copied onto another image": Case(copied_onto_another_image(V2), "claims digest", (V2,)),
    "v3 signature copied onto another image": Case(
        copied_onto_another_image(V3), "bundle subject does not name the image", (V3,)
    ),
    "v2 payload changed after signing": Case(payload_changed_after_signing(V2), NOT_VERIFIED, (V2,)),
    "v3 payload changed after signing": Case(payload_changed_after_signing(V3), NOT_VERIFIED, (V3,)),
    "v2 signature annotation not base64": Case(
        signature_annotation_not_base64, "garbage: signature annotation is not valid base64", (V2,)
    ),
    "v2 signed payload not JSON": Case(hand_built_sig_layer(not_json), "garbage: payload is not JSON", (V2,)),
    "v3 bundle blob is garbage JSON": Case(
        hand_built_bundle(garbage_json, COSIGN_SIGN_PREDICATE), "garbage: bundle is not JSON", (V3,)
    ),
    "v3 attestation with another predicate": Case(
        hand_built_bundle(signed_statement(SLSA_PROVENANCE), SLSA_PROVENANCE),
        f"bundle predicateType {SLSA_PROVENANCE} is not {COSIGN_SIGN_PREDICATE}",
        (V3,),
    ),
    "missing tag": Case(missing_tag, "not found", error=True),
    "missing repository": Case(missing_repository, "not found", error=True),
    "missing digest": Case(missing_digest, "not found", error=True),
    "registry down": Case(registry_down, "unreachable", error=True),
    "private registry without credentials": Case(
        private_registry(credentials=False),
        "requires authentication and no credentials are configured",
        error=True,
    ),
}


@pytest.fixture(scope="module")
def targets(world: World) -> Callable[[str], Target]:
    """`targets(name)` arranges the case `name` once per module and returns what to verify."""
    arranged: dict[str, Target] = {}

    def target(name: str) -> Target:
        if name not in arranged:
            arranged[name] = CASES[name].arrange(world)
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
    return ["verify", "--key", str(world.trusted.public), *args, "-o", "json", *images]


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
