"""The repository is the product: no file in it may point outside it.

A clone has nothing beside it, so a test, script, doc or docstring that reads or cites `../shared`, a
path of one build machine, or a note that exists only there (the formats notes, the style guide, the
kube-apiserver notes) is a broken reference for everyone else; so is "issue 3", which nobody with the
clone can look up. Facts belong in the repository (`docs/formats.md`, `tests/assets/`) and specifications
are cited by URL. Every file git tracks or would track (not ignored) is scanned, so a new file is caught
before it is committed; without git (an unpacked archive) the tree is walked. A citation of a section
of `docs/formats.md` must name an anchor that page defines, and each vendored source must say where it
came from.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.paths import ASSETS, INTEROP, REPO_ROOT

OUTSIDE = re.compile(
    r"\.\./shared\b"  # the reference material beside the repository on the build machines
    r"|(?<![\w.-])/work/"  # absolute paths of a build machine
    r"|\bshared/(?:interop|admission|conformance|tools|hooks)\b"
    r"|\b(?:FORMATS(?:-KEYLESS)?|STYLE|KUBE-APISERVER|REAL-NODE)\.md\b"  # notes that exist only there
    r"|\b[Ii]ssues? #?\d+\b"  # the tracker is not part of the clone: say what is tested instead
)
# a citation names one anchor of docs/formats.md, or several: "(docs/formats.md#dsse, #in-toto)"
FORMATS_CITATION = re.compile(r"formats\.md#([\w-]+)((?:(?:,| and) #[\w-]+)*)")
ANCHOR = re.compile(r'<a id="([\w-]+)"></a>')
NOT_SOURCES = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist"}
THIS_FILE = Path(__file__).resolve()


def git_files() -> list[Path] | None:
    """Tracked and not-ignored files, or None without git or outside a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [REPO_ROOT / name for name in sorted(set(listed.decode().split("\0"))) if name]


def walked_files() -> list[Path]:
    """Every file of the tree outside version control, caches and virtual environments."""
    return [
        path
        for path in REPO_ROOT.rglob("*")
        if path.is_file()
        and not any(p in NOT_SOURCES or p.endswith(".egg-info") for p in path.relative_to(REPO_ROOT).parts)
    ]


def repository_files() -> list[Path]:
    """What git tracks or would track, else (an unpacked archive) the walked tree."""
    listed = git_files()
    return walked_files() if listed is None else listed


def outside_references(text: str) -> list[str]:
    """The references to something outside the repository in `text`, as `line N: match`."""
    return [
        f"line {number}: {match.group(0)}"
        for number, line in enumerate(text.splitlines(), start=1)
        for match in OUTSIDE.finditer(line)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "vectors in ../shared/interop/",
        'SHARED = Path("/work/shared")',
        "as FORMATS.md §3.2 says",
        "see FORMATS-KEYLESS.md",
        "(STYLE.md: one choke point)",
        "as `KUBE-APISERVER.md` says",
        "REAL-NODE.md",
        "the table of issue 3",
        "Issue #12's rows",
        "copied from shared/admission",
    ],
)
def test_a_reference_outside_the_repository_is_found(text: str) -> None:
    assert outside_references(f"first line\n{text}\n") == [f"line 2: {OUTSIDE.search(text).group(0)}"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "docs/formats.md#sig-tag",
        "tests/assets/interop/connaisseur",
        "https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md",
        "Lookups are cached (concurrent lookups shared)",
        "tests/assets/SOURCES.md",
        "a /workspace/ path and /tmp/work/",
    ],
)
def test_references_inside_the_repository_or_to_upstream_urls_are_not_flagged(text: str) -> None:
    assert outside_references(text) == []


def test_no_file_in_the_repository_refers_to_something_outside_it() -> None:
    files = [path for path in repository_files() if path.resolve() != THIS_FILE and path.is_file()]
    assert any(path.name == "README.md" for path in files)  # the scan saw the repository
    found = {
        str(path.relative_to(REPO_ROOT)): hits
        for path in files
        if (hits := outside_references(path.read_bytes().decode("utf-8", errors="replace")))
    }
    assert found == {}


def test_every_citation_of_docs_formats_names_an_anchor_it_has() -> None:
    anchors = set(ANCHOR.findall((REPO_ROOT / "docs" / "formats.md").read_text()))
    cited: dict[str, set[str]] = {}
    for path in repository_files():
        if path.suffix in {".py", ".md", ".sh"} and path.is_file():
            for first, more in FORMATS_CITATION.findall(path.read_text(errors="replace")):
                names = {first, *re.findall(r"#([\w-]+)", more)}
                cited.setdefault(str(path.relative_to(REPO_ROOT)), set()).update(names)
    assert cited  # the code does cite it
    assert {where: names - anchors for where, names in cited.items() if names - anchors} == {}


def test_every_vendored_source_has_a_readme_and_an_entry_in_sources() -> None:
    sources = (ASSETS / "SOURCES.md").read_text()
    folders = sorted(path for path in INTEROP.iterdir() if path.is_dir())
    assert folders
    for folder in folders:
        assert (folder / "README.md").is_file(), folder.name
        assert f"`interop/{folder.name}/" in sources, folder.name
    assert (ASSETS / "LICENSES" / "Apache-2.0.txt").is_file()


def test_the_walk_without_git_sees_every_file_git_lists() -> None:
    listed = git_files()
    if listed is None:
        pytest.skip("not a git checkout: the walk is what the scan uses")
    assert {p for p in listed if p.is_file()} <= set(walked_files())


def test_the_test_data_lives_inside_the_repository() -> None:
    assert INTEROP.resolve().is_relative_to(REPO_ROOT.resolve()) and INTEROP.is_dir()
