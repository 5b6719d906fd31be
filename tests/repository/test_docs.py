"""The README and docs/ against what they describe: a reader who follows a link lands on a heading that
exists, a file named in backticks is in the tree, and the reference parts list exactly what the code
has (config fields, chart values, commands and their options, metrics, audit line fields).

Each check reads the code's own definitions (the pydantic config models, `values.yaml`, the argparse
parser, the metric names in `app/webhook/metrics.py`, the audit record's JSON Schema), so a new field,
value, option or metric that is not documented fails here, in the change that adds it.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from app.cli.main import build_parser
from app.config.files import parse_settings
from app.config.settings import Settings
from tests.fixtures.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)
ANCHOR = re.compile(r'<a id="([\w-]+)"></a>')
# a path of this repository in backticks: `app/core/ports.py`, `tests/cluster/`, `scripts/test.sh`
TREE_PATH = re.compile(r"`((?:app|tests|scripts|charts|bench|examples|manifests|constraints|\.ci)/[^`\s]*)`")


def prose(page: Path) -> str:
    """The page without its fenced code blocks (which hold sample output, not links)."""
    return FENCE.sub("", page.read_text())


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = prose(page)
    return {slug(h) for h in HEADING.findall(text)} | set(ANCHOR.findall(page.read_text()))


def section(page: Path, title: str) -> str:
    """The text under the heading `title`, up to the next heading of the same or a higher level."""
    text = page.read_text()
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    assert match, f"{page.name} has no heading {title!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ('What "verified" means', "what-verified-means"),
        (
            "Keyless and transparency-log verification, offline",
            "keyless-and-transparency-log-verification-offline",
        ),
        ("Digest pinning (`mutating.enabled`, default true)", "digest-pinning-mutatingenabled-default-true"),
        (
            "Under load: bursts, floods, held connections, shutdown",
            "under-load-bursts-floods-held-connections-shutdown",
        ),
    ],
)
def test_a_heading_gets_the_anchor_github_gives_it(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no such heading")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_named_in_backticks_exists(page: Path) -> None:
    missing = []
    for named in TREE_PATH.findall(page.read_text()):
        if any(mark in named for mark in "*…<"):
            continue  # a pattern, not a path
        path = re.split(r"::|:\d|#", named)[0].rstrip("/")
        if not (REPO_ROOT / path).exists():
            missing.append(named)
    assert missing == []


# ---- config: docs/configuration.md shows every field, and only real ones ----


def example_block() -> str:
    (block,) = re.findall(r"```yaml\n(.*?)```", section(DOCS / "configuration.md", "Every field"), re.S)
    return block


def example_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(example_block())
    return loaded


def model_fields(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every field of `model` and the models inside it, as camelCase paths (`policies[].keyless[].issuer`)."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        yield path
        for inner, suffix in _models_in(field.annotation):
            yield from model_fields(inner, f"{path}{suffix}.")


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", ())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
    elif origin is list:
        yield from ((model, "[]" + rest) for model, rest in _models_in(args[0]))
    elif origin is dict:
        yield from ((model, ".*" + rest) for model, rest in _models_in(args[1]))
    else:  # Optional, Annotated, unions
        for arg in args:
            yield from _models_in(arg)


FREE_MAPPINGS = {"registries.caFiles", "trustedRoots"}  # their keys are names the admin chooses, not fields


def written_fields(value: Any, prefix: str = "") -> Iterator[str]:
    """The keys written in a YAML document, as the same paths (`*` for a name in a free mapping)."""
    if isinstance(value, dict):
        free = prefix.removesuffix(".") in FREE_MAPPINGS
        for key, inner in value.items():
            if not free:
                yield f"{prefix}{key}"
            yield from written_fields(inner, f"{prefix}{'*' if free else key}.")
    elif isinstance(value, list):
        for item in value:
            yield from written_fields(item, prefix.removesuffix(".") + "[].")


def test_the_complete_config_example_is_a_valid_config() -> None:
    settings = parse_settings(example_config(), base_dir=DOCS)
    assert settings.policies and settings.trusted_roots


def test_the_complete_config_example_shows_every_field_the_config_has() -> None:
    fields = set(model_fields(Settings))
    written = set(written_fields(example_config()))
    # an alternative to a field written (`tls: {certFile, keyFile}` or `{selfSignedDir}`) is shown in a comment
    comments = "\n".join(line.partition("#")[2] for line in example_block().splitlines())
    assert {f for f in fields - written if f"{f.rpartition('.')[2]}:" not in comments} == set()
    assert written - fields == set()


def test_the_readme_config_example_is_a_valid_config() -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", section(README, "Configuration"), re.S)
    assert parse_settings(yaml.safe_load(block)).policies


# ---- chart values: docs/install.md#values lists every one ----

WHOLE = {"resources", "readiness", "liveness", "issuerRef", "config"}  # values documented as a block


def chart_values(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in WHOLE:
            yield from chart_values(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_the_values_table_lists_every_chart_value() -> None:
    values = yaml.safe_load((REPO_ROOT / "charts" / "sigwebhook" / "values.yaml").read_text())
    table = section(DOCS / "install.md", "Values")
    listed = set(re.findall(r"`([\w.]+)`", table))
    assert [name for name in chart_values(values) if name not in listed] == []


# ---- the command line: every command and option is in the README ----


def subcommands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from (
                    subcommands(sub, f"{prefix}{name} ") if _has_subcommands(sub) else [(prefix + name, sub)]
                )


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def test_the_command_table_has_a_row_for_every_command() -> None:
    text = section(README, "The command line")
    commands = [name for name, _ in subcommands(build_parser())]
    assert len(commands) >= 10
    assert [name for name in commands if f"| `{name} " not in text and f"| `{name}`" not in text] == []


def test_the_readme_names_every_option_of_every_command() -> None:
    # `--certificate-identity[-regexp]` names both options
    text = re.sub(r"(--[\w-]+)\[(-[\w-]+)\]", r"\1 \1\2", section(README, "The command line"))
    missing = [
        f"{name} {action.option_strings[0]}"
        for name, parser in subcommands(build_parser())
        for action in parser._actions
        if action.option_strings
        and "-h" not in action.option_strings
        and not any(re.search(rf"`[^`]*{re.escape(o)}(?![\w-])", text) for o in action.option_strings)
    ]
    assert missing == []


# ---- metrics and the audit line ----


def test_docs_metrics_lists_every_metric_the_webhook_serves() -> None:
    source = (REPO_ROOT / "app" / "webhook" / "metrics.py").read_text()
    names = set(re.findall(r'"(sigwebhook_[a-z_]+)"', source))
    assert len(names) >= 10
    page = (DOCS / "metrics.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in page and f"`{n}_total`" not in page) == []


def schema_fields() -> set[str]:
    schema = json.loads((REPO_ROOT / "app" / "core" / "audits" / "audit-record.schema.json").read_text())
    return {name for part in schema["$defs"].values() for name in part.get("properties", {})}


def test_the_readme_explains_every_field_of_the_audit_line() -> None:
    text = section(README, "The audit log")
    assert len(schema_fields()) >= 25
    assert sorted(f for f in schema_fields() if f"`{f}`" not in text) == []
