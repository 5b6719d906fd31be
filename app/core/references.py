"""Image references, parsed and normalised as distribution's `reference` package does.

`nginx` becomes `docker.io/library/nginx:latest`; `localhost:5000/a/b@sha256:…` keeps its registry and
port; `name:tag@digest` keeps both (the digest is what is verified). Grammar: distribution
`reference/reference.go` and `normalize.go` (ParseNormalizedNamed). Anything else raises
`InvalidReference` with a reason a person can act on. Text longer than any reference the grammar
allows (`REFERENCE_LENGTH_MAX`: a 255-character name, a 128-character tag and the longest digest) is
refused before it is scanned: a review may carry megabytes in one `image` string. No I/O here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from app.core.digests import MAX_DIGEST_CHARS, Digest
from app.core.errors import InvalidDigest, InvalidReference

DOCKER_HUB = "docker.io"
_LEGACY_DOCKER_HUB = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255  # distribution `reference.NameTotalLengthMax`
TAG_LENGTH_MAX = 128  # distribution's tag grammar: a word character and up to 127 more
# The longest reference the grammar allows: `name:tag@algorithm:hex`.
REFERENCE_LENGTH_MAX = NAME_TOTAL_LENGTH_MAX + 1 + TAG_LENGTH_MAX + 1 + MAX_DIGEST_CHARS

# distribution reference grammar, component by component.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # Go's \w: ASCII only (Python's is Unicode)
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"

_REFERENCE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_ANCHORED_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True, order=True)
class Repository:
    """A repository in a registry: `registry` is the normalised host[:port], `path` the remote name."""

    registry: str
    path: str

    def __post_init__(self) -> None:
        if not _DOMAIN_RE.match(self.registry):
            raise InvalidReference(f"invalid registry host {self.registry!r}")
        if not _PATH_RE.match(self.path):
            raise InvalidReference(f"invalid repository path {self.path!r}")

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference. At least one of `tag` and `digest` is set."""

    repository: Repository
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if self.tag is None and self.digest is None:
            raise InvalidReference("a reference needs a tag or a digest")
        if self.tag is not None and not _TAG_RE.match(self.tag):
            raise InvalidReference(f"invalid tag {self.tag!r}")

    @property
    def registry(self) -> str:
        return self.repository.registry

    @property
    def path(self) -> str:
        return self.repository.path

    def with_digest(self, digest: Digest) -> ImageRef:
        """The same reference pinned to `digest` (the tag is kept for display)."""
        return ImageRef(self.repository, self.tag, digest)

    def pinned(self) -> str:
        """`registry/path@sha256:…`, the form that pulls exactly the verified manifest."""
        if self.digest is None:
            raise InvalidReference(f"{self} has no digest to pin")
        return f"{self.repository}@{self.digest}"

    def __str__(self) -> str:
        return self._text

    @functools.cached_property
    def _text(self) -> str:  # once per reference: reviews name the same references over and over
        text = str(self.repository)
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageRef:
    """Parse and normalise an image reference; raise `InvalidReference` with the reason."""
    if not isinstance(text, str):
        raise InvalidReference("image reference must be a string")
    shown = text if len(text) <= 120 else text[:120] + "…"
    if not text:
        raise InvalidReference("image reference is empty")
    if len(text) > REFERENCE_LENGTH_MAX:
        raise InvalidReference(
            f"invalid image reference {shown!r}: {len(text)} characters, longer than any reference can be "
            f"({REFERENCE_LENGTH_MAX}: a {NAME_TOTAL_LENGTH_MAX}-character name, a {TAG_LENGTH_MAX}-character "
            "tag and a digest)"
        )
    if text != text.strip() or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidReference(
            f"invalid image reference {shown!r}: contains whitespace or control characters"
        )
    if _ANCHORED_IDENTIFIER.match(text):
        raise InvalidReference(
            f"invalid image reference {shown!r}: a 64-character hex string is an image ID, not a reference"
        )
    domain, remainder = _split_docker_domain(text)
    remote_name = remainder.split("@", 1)[0].split(":", 1)[0]
    if remote_name != remote_name.lower():
        raise InvalidReference(f"invalid image reference {shown!r}: repository name must be lowercase")
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if match is None:
        raise InvalidReference(f"invalid image reference {shown!r}: does not match the reference format")
    name = match.group("name")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"invalid image reference {shown!r}: name longer than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    path = name[len(domain) + 1 :]
    digest = None
    if match.group("digest"):
        try:
            digest = Digest.parse(match.group("digest"))
        except InvalidDigest as exc:
            raise InvalidReference(f"invalid image reference {shown!r}: {exc.reason}") from exc
    tag = match.group("tag")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(Repository(domain, path), tag, digest)


def _split_docker_domain(text: str) -> tuple[str, str]:
    """distribution `splitDockerDomain`: the first component is a registry only if it looks like a host."""
    first, sep, rest = text.partition("/")
    if not sep or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DOCKER_HUB, text
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DOCKER_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder
