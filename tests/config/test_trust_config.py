"""The config's trust fields: `trustedRoots`, a policy's `keyless` identities, `trustedRoot`,
`transparencyLog` and `ctLog`, and their mapping to the core's policy (roots loaded from files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import admission_policy, parse_settings
from app.core.errors import ConfigError
from app.core.trust.builtin import public_good
from tests.fixtures.paths import INTEROP

EXAMPLE_KEY = Path(__file__).resolve().parents[2] / "examples" / "local" / "cosign.pub"
STAGING_ROOT = INTEROP / "sigstore-python" / "staging-trusted_root.json"
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"


def config(*policies: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "server": {"tls": {"certFile": "/tls/tls.crt", "keyFile": "/tls/tls.key"}},
        "policies": [{"name": f"p{i}", "images": ["**"], **p} for i, p in enumerate(policies)],
        **extra,
    }


def keyless(**fields: object) -> dict[str, object]:
    return {"issuer": GITHUB, "subject": WORKFLOW, **fields}


def error_of(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as caught:
        admission_policy(parse_settings(data))
    return caught.value.reason


def test_a_policy_requires_a_log_entry_and_an_sct_and_checks_against_public_good_by_default() -> None:
    (policy,) = admission_policy(parse_settings(config({"keyless": [keyless()]}))).policies
    (identity,) = policy.identities
    assert identity.root is public_good() and policy.key_root is public_good()
    assert policy.requirements.transparency_log and policy.requirements.sct
    assert str(identity.signer.matcher) == f"{WORKFLOW} (issuer {GITHUB})"


def test_a_root_from_a_file_is_named_as_the_config_names_it_and_keyless_entries_default_to_the_policys() -> (
    None
):
    data = config(
        {"keys": [{"file": str(EXAMPLE_KEY)}], "keyless": [keyless(), keyless(subject="ops@acme.example", trustedRoot="public-good")],
         "trustedRoot": "staging", "transparencyLog": "ignore", "ctLog": "ignore", "threshold": 3},
        trustedRoots={"staging": {"file": str(STAGING_ROOT)}},
    )  # fmt: skip
    (policy,) = admission_policy(parse_settings(data)).policies
    assert policy.key_root.name == "staging" and policy.key_root.digest.startswith("sha256:")
    assert [i.root.name for i in policy.identities] == ["staging", "public-good"]
    assert not policy.requirements.transparency_log and not policy.requirements.sct


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (config({}), "policies[0]: a policy trusts keys, keyless identities or both: give keys or keyless"),
        (
            config({"keyless": [{"issuer": GITHUB}]}),
            "policies[0].keyless[0]: subject/subjectRegExp: give exactly one of the exact value or the "
            "regular expression",
        ),
        (
            config({"keyless": [keyless(issuerRegExp=".*")]}),
            "policies[0].keyless[0]: issuer/issuerRegExp: give exactly one",
        ),
        (
            config({"keyless": [{"issuer": GITHUB, "subjectRegExp": "("}]}),
            "policies[0].keyless[0]: subject/subjectRegExp: invalid regular expression '('",
        ),
        (config({"keyless": [keyless(subjet="x")]}), "policies[0].keyless[0].subjet: Extra inputs"),
        (
            config({"keyless": [keyless(trustedRoot="corp")]}),
            "policies[0].keyless[0].trustedRoot: unknown trusted root 'corp' (known: public-good)",
        ),
        (
            config({"keys": [{"pem": "x"}], "trustedRoot": "corp"}),
            "policies[0].trustedRoot: unknown trusted root 'corp'",
        ),
        (config({"keyless": [keyless()], "transparencyLog": "off"}), "policies[0].transparencyLog: Input"),
        (config({"keyless": [keyless()], "ctLog": False}), "policies[0].ctLog: Input"),
        (
            config({"keyless": [keyless()]}, trustedRoots={"public-good": {"file": "/x.json"}}),
            "trustedRoots: public-good is built in",
        ),
        (
            config({"keyless": [keyless()]}, trustedRoots={"has space": {"file": "/x.json"}}),
            "trustedRoots.has space.[key]: invalid trusted root name",
        ),
    ],
)
def test_a_bad_trust_field_is_refused_naming_it(data: dict[str, object], expected: str) -> None:
    assert expected in error_of(data)


def test_an_unreadable_or_malformed_root_file_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    missing = config({"keyless": [keyless()]}, trustedRoots={"corp": {"file": str(tmp_path / "no.json")}})
    assert error_of(missing).startswith("trustedRoots.corp.file: trusted root file")
    (tmp_path / "bad.json").write_text(
        '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": {}}'
    )
    bad = config({"keyless": [keyless()]}, trustedRoots={"corp": {"file": str(tmp_path / "bad.json")}})
    assert error_of(bad) == "trustedRoots.corp.file: trusted root corp: tlogs: is not a list"


def test_each_key_and_identity_counts_once_toward_a_threshold_checked_at_start_up() -> None:
    same_twice = {"keys": [{"file": str(EXAMPLE_KEY)}], "keyless": [keyless(), keyless()], "threshold": 3}
    assert error_of(config(same_twice)) == (
        'policies[0]: policy "p0": threshold 3 is more than its 2 distinct keys or keyless identities'
    )
    (policy,) = admission_policy(parse_settings(config({**same_twice, "threshold": 2}))).policies
    assert policy.distinct_identities == 1
