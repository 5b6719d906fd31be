"""The webhook's YAML config: defaults, field names in every error, conversion to core types."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from app.compose import needs_cluster
from app.config import admission_policy, load_settings, parse_settings, policy_source
from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import AdmissionPolicy, Mode, Pinning, Policy, Unmatched
from app.core.errors import ConfigError
from app.core.trust.secretkeys import SecretRef
from tests.core.signers import ecdsa
from tests.fixtures.signing import KeyPair

EXAMPLE_KEY = Path(__file__).resolve().parents[2] / "examples" / "local" / "cosign.pub"
ALICE = ecdsa("alice").key


def minimal(**extra: object) -> dict[str, object]:
    return {
        "server": {"tls": {"certFile": "/tls/tls.crt", "keyFile": "/tls/tls.key"}},
        "policies": [
            {"name": "p", "images": ["registry.example.com/**"], "keys": [{"file": str(EXAMPLE_KEY)}]}
        ],
        **extra,
    }


def error_of(data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.reason


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    settings = parse_settings(minimal())
    assert (settings.server.host, settings.server.port, settings.server.docs) == ("0.0.0.0", 8443, False)
    assert settings.deadline_seconds == 8 and settings.unmatched == "deny"
    assert settings.skip_namespaces == ["sigwebhook", "kube-system"] and settings.exempt_images == []
    assert settings.registries.timeout_seconds == 5 and settings.kubernetes.kubeconfig is None
    assert settings.signatures.accepted_predicate_types == ["https://sigstore.dev/cosign/sign/v1"]
    assert settings.policies[0].threshold == 1
    assert not needs_cluster(settings, admission_policy(settings).secrets())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "the config must be a mapping"),
        ({"policies": []}, "server: Field required"),
        (minimal(policies=[]), "policies: List should have at least 1 item"),
        (minimal(deadlineSeconds=30), "deadlineSeconds: Input should be less than 30"),
        (minimal(unmatched="warn"), "unmatched: Input should be 'deny' or 'allow'"),
        (minimal(server={"tls": {"certFile": "a"}}), "server.tls: certFile and keyFile go together"),
        (minimal(server={"tls": {}}), "server.tls: give certFile and keyFile, or selfSignedDir"),
        (minimal(server={"port": 0, "tls": {"selfSignedDir": "x"}}), "server.port: Input should be greater"),
        (minimal(registries={"pullSecret": "secret-name"}), "registries.pullSecret: key reference"),
        (minimal(exemptImages=["Bad Pattern"]), "exemptImages[0]: image pattern 'Bad Pattern'"),
        (minimal(polices=[]), "polices: Extra inputs are not permitted"),
        (
            minimal(policies=[{"name": "p", "images": ["**"], "keys": [{}]}]),
            "policies[0].keys[0]: give exactly one of file, pem, secret (got none)",
        ),
        (
            minimal(policies=[{"name": "has space", "images": ["**"], "keys": [{"pem": "x"}]}]),
            "policies[0].name: invalid policy name 'has space'",
        ),
        (
            minimal(policies=[{"name": "p", "images": ["**"], "keys": [{"secret": "k8s://ns"}]}]),
            "policies[0].keys[0].secret: key reference 'k8s://ns' is not of the form k8s://namespace/name",
        ),
        (
            minimal(policies=[{"name": "p", "images": ["**"], "keys": [{"pem": "x"}], "threshold": 0}]),
            "policies[0].threshold: Input should be greater than or equal to 1",
        ),
        (
            minimal(policies=[{"name": "p", "images": ["**"], "keys": [{"pem": "x"}]}] * 2),
            "policies: policy names must be unique: p",
        ),
    ],
)
def test_every_error_names_its_field(data: object, expected: str) -> None:
    assert expected in error_of(data)


def test_yaml_that_does_not_parse_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  tls: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML at line 3"):
        load_settings(path)


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "c.yaml"
    path.parent.mkdir()
    path.write_text(
        "server: {tls: {selfSignedDir: tls}}\n"
        "registries: {caFiles: {'r.example:5000': ca.pem}}\n"
        "policies: [{name: p, images: ['**'], keys: [{file: keys/cosign.pub}]}]\n"
    )
    settings = load_settings(path)
    assert settings.server.tls.self_signed_dir == tmp_path / "conf" / "tls"
    assert settings.registries.ca_files["r.example:5000"] == tmp_path / "conf" / "ca.pem"
    assert settings.policies[0].keys[0].file == tmp_path / "conf" / "keys" / "cosign.pub"


def test_the_policy_becomes_frozen_core_types_with_keys_loaded(key_pairs: dict[str, KeyPair]) -> None:
    pem = key_pairs["ed25519"].public.read_text()
    settings = parse_settings(
        minimal(
            unmatched="allow",
            skipNamespaces=["ops"],
            exemptImages=["registry.k8s.io/pause:*"],
            policies=[
                {
                    "name": "prod",
                    "images": ["registry.example.com/**"],
                    "keys": [
                        {"file": str(key_pairs["ecdsa-p256"].public)},
                        {"pem": pem},
                        {"secret": "k8s://sigwebhook/cosign"},
                    ],
                    "threshold": 3,
                }
            ],
        )
    )
    policy = admission_policy(settings)
    prod = policy.policies[0]
    assert [k.name for k in prod.static_keys] == [
        str(key_pairs["ecdsa-p256"].public),
        'inline key 1 of policy "prod"',
    ]
    assert prod.secrets == (SecretRef("sigwebhook", "cosign"),) and prod.threshold == 3
    assert policy.unmatched is Unmatched.ALLOW and policy.skip_namespaces == {"ops"}
    assert policy.secrets() == {SecretRef("sigwebhook", "cosign")} and needs_cluster(
        settings, policy.secrets()
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ({"file": "/does/not/exist.pub"}, "policies[0].keys[0].file: cannot read /does/not/exist.pub"),
        ({"pem": "not a key"}, 'policies[0].keys[0].pem: inline key 0 of policy "p": not a PEM public key'),
    ],
)
def test_a_key_that_cannot_be_loaded_is_a_config_error_naming_the_field(
    key: dict[str, str], expected: str
) -> None:
    settings = parse_settings(minimal(policies=[{"name": "p", "images": ["**"], "keys": [key]}]))
    with pytest.raises(ConfigError) as caught:
        admission_policy(settings)
    assert caught.value.reason.startswith(expected)


def test_a_threshold_above_the_file_keys_is_refused_at_start_up() -> None:
    settings = parse_settings(
        minimal(
            policies=[{"name": "p", "images": ["**"], "keys": [{"file": str(EXAMPLE_KEY)}], "threshold": 2}]
        )
    )
    with pytest.raises(
        ConfigError, match=r'policies\[0\]: policy "p": threshold 2 is more than its 1 distinct keys'
    ):
        admission_policy(settings)


def policy_with(**fields: object) -> dict[str, object]:
    return minimal(
        policies=[
            {
                "name": "p",
                "images": ["registry.example.com/**"],
                "keys": [{"file": str(EXAMPLE_KEY)}],
                **fields,
            }
        ]
    )


def test_a_policy_enforces_and_pins_pods_only_by_default() -> None:
    (policy,) = admission_policy(parse_settings(minimal())).policies
    assert (policy.mode, policy.pinning) == (Mode.ENFORCE, Pinning.PODS)


@pytest.mark.parametrize(
    ("pin_digest", "pinning"),
    [
        ("pods", Pinning.PODS),
        ("all", Pinning.ALL),
        ("none", Pinning.NONE),
        # the first spellings keep their meaning
        ("podsOnly", Pinning.PODS),
        (True, Pinning.ALL),
        (False, Pinning.NONE),
        ("false", Pinning.NONE),
    ],
)
def test_pin_digest_in_the_cores_words_or_as_first_spelled_becomes_the_core_pinning(
    pin_digest: object, pinning: Pinning
) -> None:
    (policy,) = admission_policy(parse_settings(policy_with(pinDigest=pin_digest, mode="warn"))).policies
    assert (policy.pinning, policy.mode) == (pinning, Mode.WARN)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"mode": "audit"}, "policies[0].mode: Input should be 'enforce' or 'warn'"),
        ({"pinDigest": "workloads"}, "policies[0].pinDigest: Input should be 'all', 'pods' or 'none'"),
        ({"pinDigest": 2}, "policies[0].pinDigest"),
    ],
)
def test_a_bad_mode_or_pin_digest_names_the_field(fields: dict[str, object], expected: str) -> None:
    assert expected in error_of(policy_with(**fields))


PRIVATE_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param({"pem": PRIVATE_PEM, "file": "/keys/cosign.pub"}, id="two sources"),
        pytest.param({"pem": PRIVATE_PEM, "password": "hunter2"}, id="an unknown field"),
    ],
)
def test_a_refused_config_never_carries_a_pem_or_password_in_the_error_or_its_traceback(
    key: dict[str, str],
) -> None:
    data = {
        "server": {"tls": {"selfSignedDir": "x"}},
        "policies": [{"name": "prod", "images": ["**"], "keys": [key]}],
    }
    with pytest.raises(ConfigError) as raised:
        parse_settings(data)
    shown = "".join(traceback.format_exception(raised.value))  # what --debug prints
    assert "policies[0].keys[0]" in shown
    assert "SECRETSECRET" not in shown and "hunter2" not in shown


def test_a_yaml_error_never_carries_the_offending_line_in_the_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('policies:\n  - keys: [{pem: "SECRETSECRET}]\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    shown = "".join(traceback.format_exception(raised.value))
    assert "not valid YAML" in shown and "SECRETSECRET" not in shown


def test_the_default_skipped_namespaces_are_the_webhooks_own_and_kube_system(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.config import own_namespace

    monkeypatch.setenv("POD_NAMESPACE", "image-policy")
    assert parse_settings(minimal()).skip_namespaces == ["image-policy", "kube-system"]
    monkeypatch.delenv("POD_NAMESPACE")
    mounted = tmp_path / "namespace"
    mounted.write_text("platform-security\n")
    assert own_namespace(mounted) == "platform-security"
    assert own_namespace(tmp_path / "absent") == "sigwebhook"
    # what is written in the config is what counts: no default is added to it
    assert parse_settings({**minimal(), "skipNamespaces": ["ops"]}).skip_namespaces == ["ops"]


@pytest.mark.parametrize(
    ("config_error", "core_error"),
    [
        pytest.param(
            lambda: parse_settings(policy_with(name="has space")),
            lambda: Policy("has space", (ImagePattern("**"),), (ALICE,)),
            id="policy name",
        ),
        pytest.param(
            lambda: parse_settings(
                minimal(policies=[{"name": "p", "images": ["**"], "keys": [{"pem": "x"}]}] * 2)
            ),
            lambda: AdmissionPolicy((Policy("p", (ImagePattern("**"),), (ALICE,)),) * 2),
            id="unique names",
        ),
        pytest.param(
            lambda: parse_settings(minimal(exemptImages=["*"])),
            lambda: ImagePattern("*"),
            id="image pattern",
        ),
        pytest.param(
            lambda: parse_settings(minimal(registries={"pullSecret": "k8s://Bad/x"})),
            lambda: SecretRef.parse("k8s://Bad/x"),
            id="Secret reference",
        ),
    ],
)
def test_each_rule_is_the_cores_own_check_with_the_config_field_named(
    config_error: Callable[[], object], core_error: Callable[[], object]
) -> None:
    with pytest.raises(ConfigError) as from_config:
        config_error()
    with pytest.raises(ConfigError) as from_core:
        core_error()
    assert from_core.value.reason in from_config.value.reason


def test_references_and_patterns_are_parsed_once_into_core_values() -> None:
    settings = parse_settings(
        policy_with(keys=[{"secret": "k8s://sigwebhook/cosign"}], images=["nginx"])
        | {"exemptImages": ["registry.k8s.io/pause:*"], "registries": {"pullSecret": "k8s://ns/pull"}}
    )
    (policy,) = settings.policies
    assert policy.keys[0].secret == SecretRef("sigwebhook", "cosign")
    assert (
        policy.images == [ImagePattern("nginx")] and policy.images[0].normalised == "docker.io/library/nginx"
    )
    assert settings.exempt_images == [ImagePattern("registry.k8s.io/pause:*")]
    assert settings.registries.pull_secret == SecretRef("ns", "pull")


def test_the_config_file_is_a_policy_source_of_the_policy_it_maps_to() -> None:
    settings = parse_settings(minimal(unmatched="allow"))
    source = policy_source(settings)
    assert source.current() == admission_policy(settings) and source.current() is source.current()
