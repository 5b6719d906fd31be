"""Policy: glob patterns over normalised references, which policies apply, keys from the snapshot."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from app.core.admission.patterns import ImagePattern, PatternScope, normalise_pattern
from app.core.admission.policy import AdmissionPolicy, Policy, Unmatched
from app.core.errors import ConfigError
from app.core.references import parse_reference
from app.core.trust.secretkeys import KeySnapshot, SecretRef
from tests.core.signers import ecdsa

DIGEST = "sha256:" + "ab" * 32
ALICE, BOB = ecdsa("alice").key, ecdsa("bob").key


@pytest.mark.parametrize(
    ("pattern", "image", "matches"),
    [
        ("registry.example.com/team/**", "registry.example.com/team/app:1", True),
        ("registry.example.com/team/**", "registry.example.com/team/a/b/c@" + DIGEST, True),
        ("registry.example.com/team/**", "registry.example.com/other/app:1", False),
        ("registry.example.com/team/**", "registry.example.com/teams/app:1", False),
        ("registry.example.com/team/*", "registry.example.com/team/app", True),
        ("registry.example.com/team/*", "registry.example.com/team/a/b", False),
        ("registry.example.com/*/app", "registry.example.com/team/app:2", True),
        # `/**/` stands for zero or more whole components
        ("registry.example.com/**/app", "registry.example.com/app:2", True),
        ("registry.example.com/**/app", "registry.example.com/a/b/app:2", True),
        ("registry.example.com/team/app:v1.*", "registry.example.com/team/app:v1.4", True),
        ("registry.example.com/team/app:v1.*", "registry.example.com/team/app:v2.0", False),
        ("registry.example.com/team/app@" + DIGEST, "registry.example.com/team/app@" + DIGEST, True),
        ("nginx", "nginx:1.25", True),
        ("nginx", "docker.io/library/nginx", True),
        ("nginx", "index.docker.io/library/nginx:latest", True),
        ("nginx", "example/nginx", False),
        ("docker.io/*", "busybox", True),  # `docker.io/*` means the official images, as distribution does
        ("docker.io/*", "bitnami/redis", False),
        ("docker.io/**", "bitnami/redis:7", True),
        ("bitnami/*", "docker.io/bitnami/redis", True),
        ("localhost:5000/**", "localhost:5000/x/y:1", True),
        ("localhost:5000/**", "localhost:5001/x/y:1", False),
        ("*.example.com/**", "registry.example.com/team/app:1", True),
        ("**", "anything.io/at/all:1", True),
        ("**", "localhost:5000/x@" + DIGEST, True),
        ("registry.example.com:5000/team/*", "registry.example.com:5000/team/app:1@" + DIGEST, True),
        ("registry.example.com/team/app:1", "registry.example.com/team/app:1@" + DIGEST, False),
        # registry hosts are case-insensitive (RFC 4343): the kubelet pulls from the same registry
        ("registry.example.com/team/**", "REGISTRY.Example.com/team/app:1", True),
        ("registry.example.com/team/**", "Registry.example.com:5000/team/app:1", False),
        ("Registry.Example.com/team/**", "registry.example.com/team/app:1", True),
        ("*.example.com/**", "Registry.EXAMPLE.com/team/app:1", True),
        # Docker Hub under the name containerd actually pulls from is still Docker Hub
        ("docker.io/**", "registry-1.docker.io/bitnami/redis:7", True),
        ("nginx", "Registry-1.Docker.io/library/nginx:1", True),
        ("registry-1.docker.io/library/nginx", "nginx:1", True),
        # a Docker Hub shorthand with a glob in its first component is still Docker Hub
        ("nginx:*", "nginx:1.25", True),
        ("nginx:1.*", "docker.io/library/nginx:1.25", True),
        ("nginx:1.*", "nginx:2.0", False),
        ("ubuntu*", "ubuntu-debootstrap:22.04", True),
        ("docker.io/bitnami*/redis", "bitnami/redis:7", True),
        ("*/**", "registry.example.com/team/app:1", True),
        # single-name images under a Docker Hub alias are official images, like `redis`
        ("redis", "registry-1.docker.io/redis:7", True),
        ("redis", "Docker.io/redis:7", True),
        ("docker.io/library/redis", "index.docker.io/redis:7", True),
        ("registry-1.docker.io/redis", "registry-1.docker.io/redis:7", True),
    ],
)
def test_pattern_matches_normalised_references(pattern: str, image: str, matches: bool) -> None:
    assert ImagePattern(pattern).matches(parse_reference(image)) is matches


OTHER_DIGEST = "sha256:" + "cd" * 32
DEBUG = "r.example/tools/debug"


@pytest.mark.parametrize(
    ("pattern", "image", "matches"),
    [
        # a repository pattern: any tag, any digest
        (DEBUG, f"{DEBUG}:v1", True),
        (DEBUG, f"{DEBUG}:v1@{DIGEST}", True),
        (DEBUG, f"{DEBUG}@{DIGEST}", True),
        ("r.example/tools/*", f"{DEBUG}@{DIGEST}", True),
        ("localhost:5000/app", f"localhost:5000/app:1@{DIGEST}", True),  # a port is not a tag
        # ... whose glob never reaches into the tag or the digest
        ("r.example/tools/deb*1", f"{DEBUG}:1", False),
        ("r.example/tools/debug**", f"{DEBUG}:v1@{DIGEST}", True),  # matches the repository itself
        # a tag pattern: that tag, and no digest (the digest is what runs)
        (f"{DEBUG}:v1", f"{DEBUG}:v1", True),
        (f"{DEBUG}:v1", f"{DEBUG}:v1@{DIGEST}", False),
        (f"{DEBUG}:v1", f"{DEBUG}@{DIGEST}", False),
        (f"{DEBUG}:v1", f"{DEBUG}:v2", False),
        (f"{DEBUG}:*", f"{DEBUG}:v1@{DIGEST}", False),
        (f"{DEBUG}:v1*", f"{DEBUG}:v1@{DIGEST}", False),
        ("r.example/**:v1", f"{DEBUG}:v1", True),
        ("r.example/**:v1", f"{DEBUG}:v1@{DIGEST}", False),
        ("nginx:1.25", f"nginx:1.25@{DIGEST}", False),
        ("localhost:5000/app:1", f"localhost:5000/app:1@{DIGEST}", False),
        # a digest pattern: only that digest, with or without the tag it names
        (f"{DEBUG}@{DIGEST}", f"{DEBUG}@{DIGEST}", True),
        (f"{DEBUG}@{DIGEST}", f"{DEBUG}:v1@{DIGEST}", True),
        (f"{DEBUG}@{DIGEST}", f"{DEBUG}@{OTHER_DIGEST}", False),
        (f"{DEBUG}@{DIGEST}", f"{DEBUG}:v1", False),  # a tag's digest is not known when patterns are matched
        (f"{DEBUG}:v1@{DIGEST}", f"{DEBUG}:v1@{DIGEST}", True),
        (f"{DEBUG}:v1@{DIGEST}", f"{DEBUG}:v1@{OTHER_DIGEST}", False),
        (f"{DEBUG}:v1@{DIGEST}", f"{DEBUG}:v2@{DIGEST}", False),
        (f"{DEBUG}@sha256:*", f"{DEBUG}:v1@{DIGEST}", True),  # any digest, said explicitly
        (f"{DEBUG}@sha256:*", f"{DEBUG}:v1", False),
    ],
)
def test_a_pattern_matches_tags_and_digests_by_what_it_names(pattern: str, image: str, matches: bool) -> None:
    assert ImagePattern(pattern).matches(parse_reference(image)) is matches


@pytest.mark.parametrize(
    ("pattern", "scope"),
    [
        ("**", PatternScope.REPOSITORY),
        ("nginx", PatternScope.REPOSITORY),
        ("localhost:5000/app", PatternScope.REPOSITORY),
        ("*.example.com:5000/**", PatternScope.REPOSITORY),
        ("nginx:1.*", PatternScope.TAG),
        ("localhost:5000", PatternScope.TAG),  # Docker Hub's `library/localhost`, tag 5000, like the image
        ("r.example/**:v1", PatternScope.TAG),
        (f"{DEBUG}@{DIGEST}", PatternScope.DIGEST),
        (f"{DEBUG}:v1@{DIGEST}", PatternScope.DIGEST),
    ],
)
def test_a_pattern_names_a_repository_a_tag_or_a_digest(pattern: str, scope: PatternScope) -> None:
    assert ImagePattern(pattern).scope is scope


def test_a_tag_scoped_exemption_does_not_exempt_that_tag_with_any_digest() -> None:
    admission = AdmissionPolicy((), Unmatched.DENY, frozenset(), (ImagePattern(f"{DEBUG}:v1"),))
    assert admission.exemption_for(parse_reference(f"{DEBUG}:v1")) is not None
    assert admission.exemption_for(parse_reference(f"{DEBUG}:v1@{DIGEST}")) is None


def test_a_reference_with_a_digest_falls_from_a_tag_scoped_policy_to_the_others() -> None:
    canary = Policy("canary", (ImagePattern(f"{DEBUG}:canary"),), (BOB,))
    tools = Policy("tools", (ImagePattern("r.example/tools/**"),), (ALICE,))
    admission = AdmissionPolicy((canary, tools))
    assert [p.name for p in admission.policies_for(parse_reference(f"{DEBUG}:canary"))] == ["canary", "tools"]
    assert [p.name for p in admission.policies_for(parse_reference(f"{DEBUG}:canary@{DIGEST}"))] == ["tools"]
    assert AdmissionPolicy((canary,)).policies_for(parse_reference(f"{DEBUG}:canary@{DIGEST}")) == ()


@pytest.mark.parametrize(
    ("pattern", "normalised"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("index.docker.io/nginx", "docker.io/library/nginx"),
        ("docker.io/**", "docker.io/**"),
        ("team/app", "docker.io/team/app"),
        ("Registry.Example.com/team/**", "registry.example.com/team/**"),
        ("*.Example.COM/**", "*.example.com/**"),
        ("**", "**"),
        ("nginx:*", "docker.io/library/nginx:*"),
        ("ubuntu*", "docker.io/library/ubuntu*"),
        ("docker.io/bitnami*/x", "docker.io/bitnami*/x"),
    ],
)
def test_patterns_are_normalised_like_references(pattern: str, normalised: str) -> None:
    assert normalise_pattern(pattern) == normalised


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "registry.example.com/team/***",
        "reg istry/x",
        "docker.io/Team/app",
        "a/b\n",
        "*",  # every image (**) or the official ones (docker.io/library/*)? Never guessed.
        "registry*/team/**",  # a host glob or a Docker Hub namespace glob? Never guessed.
        "bitnami*/redis",
    ],
)
def test_a_pattern_no_reference_can_match_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        ImagePattern(bad)


def test_every_matching_policy_applies() -> None:
    broad = Policy("all-team", (ImagePattern("registry.example.com/team/**"),), (ALICE,))
    narrow = Policy("db", (ImagePattern("registry.example.com/team/db/*"),), (BOB,))
    other = Policy("other", (ImagePattern("other.io/**"),), (BOB,))
    admission = AdmissionPolicy((broad, narrow, other))
    names = [p.name for p in admission.policies_for(parse_reference("registry.example.com/team/db/pg:16"))]
    assert names == ["all-team", "db"]


def test_a_policy_without_keys_cannot_be_built() -> None:
    with pytest.raises(ConfigError, match="trusts no keys"):
        Policy("empty", (ImagePattern("**"),))


def test_a_threshold_above_the_number_of_distinct_file_keys_is_refused() -> None:
    with pytest.raises(ConfigError, match="threshold 2 is more than its 1 distinct keys"):
        Policy("p", (ImagePattern("**"),), (ALICE, ALICE), threshold=2)


def test_a_threshold_with_secret_keys_is_checked_at_review_time_not_at_start_up() -> None:
    policy = Policy("p", (ImagePattern("**"),), (ALICE,), (SecretRef("ns", "keys"),), threshold=3)
    assert policy.threshold == 3


def test_duplicate_policy_names_are_refused() -> None:
    p = Policy("p", (ImagePattern("**"),), (ALICE,))
    with pytest.raises(ConfigError, match="unique"):
        AdmissionPolicy((p, p))


def test_policy_keys_join_file_keys_and_the_secrets_current_keys_without_duplicates() -> None:
    ref, missing = SecretRef("sigwebhook", "keys"), SecretRef("sigwebhook", "gone")
    policy = Policy("p", (ImagePattern("**"),), (ALICE,), (ref, missing))
    snapshot = KeySnapshot(
        keys=MappingProxyType({ref: (ALICE, BOB)}),
        problems=MappingProxyType({missing: "Secret not found"}),
    )
    found = policy.keys_in(snapshot)
    assert found.fingerprints == {ALICE.fingerprint, BOB.fingerprint}
    assert found.problems == ("k8s://sigwebhook/gone: Secret not found",)


def test_exemptions_and_skipped_namespaces_are_explicit() -> None:
    admission = AdmissionPolicy(
        (Policy("p", (ImagePattern("**"),), (ALICE,)),),
        Unmatched.DENY,
        frozenset({"kube-system"}),
        (ImagePattern("registry.k8s.io/pause:*"),),
    )
    assert admission.skips("kube-system") and not admission.skips("default") and not admission.skips(None)
    assert admission.exemption_for(parse_reference("registry.k8s.io/pause:3.9")) is not None
    assert admission.exemption_for(parse_reference("registry.k8s.io/etcd:3.5")) is None


def test_an_upper_case_registry_host_cannot_slip_past_a_policy_when_unmatched_images_are_allowed() -> None:
    admission = AdmissionPolicy(
        (Policy("prod", (ImagePattern("registry.example.com/**"),), (ALICE,)),), Unmatched.ALLOW
    )
    assert [p.name for p in admission.policies_for(parse_reference("REGISTRY.EXAMPLE.COM/team/app:1"))] == [
        "prod"
    ]


def test_a_docker_hub_glob_pattern_cannot_slip_past_a_policy_when_unmatched_images_are_allowed() -> None:
    admission = AdmissionPolicy((Policy("hub", (ImagePattern("nginx:*"),), (ALICE,)),), Unmatched.ALLOW)
    for image in ("nginx:1.25", "registry-1.docker.io/nginx:1.25", "docker.io/library/nginx:latest"):
        assert [p.name for p in admission.policies_for(parse_reference(image))] == ["hub"], image
