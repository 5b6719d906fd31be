"""Image patterns: the globs that say which images a policy governs and which images are exempt.

Patterns are matched against the normalised reference (`docker.io/library/nginx:1.25`): `*` matches
within one path component (never `/`), `**` matches across components. A pattern is normalised the way
distribution normalises a reference (`nginx` → `docker.io/library/nginx`, `index.docker.io` →
`docker.io`), so a pattern and an image written differently still meet; registry hosts are compared
without case, as DNS compares them.

What a pattern names decides what it matches (`PatternScope`): without a tag or digest, the
repository, whatever the image carries; with a tag (`:v1`, `:1.*`), only an image with such a tag
**and no digest** (the runtime pulls the digest: `app:v1` matching `app:v1@sha256:<any>` would
stretch an exemption or policy for one tag to every manifest of the repository); with a digest, only
an image carrying that digest. A pattern that could match no reference is a `ConfigError`. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from app.core.errors import ConfigError
from app.core.references import DOCKER_HUB, ImageRef

# Docker Hub answers under these names as well (containerd sends `docker.io` to registry-1.docker.io):
# an image written with one of them is the same image, and must meet the same patterns.
_DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io"})
_PATTERN_CHARS = re.compile(r"^[A-Za-z0-9._:/@*\[\]-]+$")


class PatternScope(StrEnum):
    """What a pattern names besides the repository, and so which forms of a reference it is matched to."""

    REPOSITORY = "repository"  # `registry/path`: any tag, any digest
    TAG = "tag"  # `registry/path:tag`: only references with such a tag and no digest
    DIGEST = "digest"  # `registry/path@digest` or `…:tag@digest`: only references carrying that digest


@dataclass(frozen=True)
class ImagePattern:
    """A glob over normalised references: `text` as written, `normalised` matched, `scope` what it names."""

    text: str
    normalised: str = field(init=False)
    scope: PatternScope = field(init=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        normalised = normalise_pattern(self.text)
        object.__setattr__(self, "normalised", normalised)
        object.__setattr__(self, "scope", _scope(normalised))
        object.__setattr__(self, "_regex", _compile(normalised))

    def matches(self, ref: ImageRef) -> bool:
        """True when the pattern matches `ref` in its scope: `registry/path` (repository pattern),
        `registry/path:tag` of a `ref` without digest (tag pattern), `registry/path@digest` or
        `registry/path:tag@digest` (digest pattern)."""
        # Host names are case-insensitive (RFC 4343): `REGISTRY.example.com` is the registry the
        # kubelet pulls from for `registry.example.com`, so it must meet the same patterns.
        registry = ref.repository.registry.lower()
        path = ref.repository.path
        if registry in _DOCKER_HUB_ALIASES or registry == DOCKER_HUB:
            # `registry-1.docker.io/redis` and `Docker.io/redis` are Docker Hub's `library/redis`
            registry = DOCKER_HUB
            path = path if "/" in path else "library/" + path
        repository = f"{registry}/{path}"
        if self.scope is PatternScope.REPOSITORY:
            return self._regex.fullmatch(repository) is not None
        if self.scope is PatternScope.TAG:  # a reference with a digest runs that digest, whatever its tag
            return ref.digest is None and self._regex.fullmatch(f"{repository}:{ref.tag}") is not None
        if ref.digest is None:
            return False
        tag = f":{ref.tag}" if ref.tag is not None else ""
        forms = (f"{repository}@{ref.digest}", f"{repository}{tag}@{ref.digest}")
        return any(self._regex.fullmatch(form) for form in forms)

    def __str__(self) -> str:
        return self.text


def normalise_pattern(text: str) -> str:
    """Normalise a pattern like distribution normalises a reference; raise `ConfigError` when the
    pattern cannot match any reference."""
    if not isinstance(text, str) or not text:
        raise ConfigError("an image pattern must be a non-empty string")
    if not _PATTERN_CHARS.fullmatch(text):
        raise ConfigError(f"image pattern {text!r} contains characters no image reference has")
    if "***" in text:
        raise ConfigError(f"image pattern {text!r}: use * (one path component) or ** (any depth)")
    if text == "**":
        return text  # every image
    if text == "*":
        raise ConfigError(
            "image pattern '*': use ** for every image, or docker.io/library/* for official images"
        )
    first, sep, rest = text.partition("/")
    if sep and "*" in first and first not in ("*", "**") and not any(c in first for c in ".:"):
        # `registry*/team/**`: a host glob, or a Docker Hub namespace glob? Never guess which.
        raise ConfigError(
            f"image pattern {text!r} is ambiguous: write docker.io/{text} for Docker Hub, or a registry "
            "host glob with a dot or a port (*.example.com/…)"
        )
    if sep and "*" in first:
        # `*/**`, `*.example.com/**`: the host itself is a glob, nothing to normalise but its case.
        return first.lower() + sep + rest
    # distribution splitDockerDomain: the first component is a registry only if it looks like a host,
    # so `nginx:*`, `ubuntu*` and `bitnami*/app` are Docker Hub patterns, like the images they name.
    if not sep or (not any(c in first for c in ".:") and first != "localhost"):
        domain, remainder = DOCKER_HUB, text
    else:
        domain, remainder = first.lower(), rest  # hosts are matched lower-cased (`ImagePattern.matches`)
    if domain in _DOCKER_HUB_ALIASES:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder and remainder != "**":
        remainder = "library/" + remainder
    if remainder != remainder.lower() and "@" not in remainder and ":" not in remainder:
        raise ConfigError(f"image pattern {text!r}: repository names are lower-case")
    return f"{domain}/{remainder}"


def _scope(normalised: str) -> PatternScope:
    """A `@` names a digest; a `:` in the last path component names a tag (a `:` before the last `/`
    is a registry port)."""
    if "@" in normalised:
        return PatternScope.DIGEST
    if ":" in normalised.rpartition("/")[2]:
        return PatternScope.TAG
    return PatternScope.REPOSITORY


def _compile(pattern: str) -> re.Pattern[str]:
    """`**` → any characters; `/**/` → zero or more whole components; `*` → within a component."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**/", i):
            out.append("/(?:.*/)?")
            i += 4
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
