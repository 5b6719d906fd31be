"""`sigwebhook audit log` over the audit lines a real webhook wrote (HTTPS, real registry, real keys).

One webhook answers a set of reviews that covers every kind of record: allowed (signed), denied
(unsigned, and no policy), admitted in warn mode (`would_deny`), skipped (a `skipNamespaces`
namespace), refused (a malformed body) and a `/mutate` answer. Its lines are then written the ways a
security team gets them (plain, through `kubectl logs --prefix --timestamps` with the webhook's stderr
mixed in, cut short, garbled) and read back by the real CLI in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, run_cli, sign_image
from tests.fixtures.webhook import RunningWebhook
from tests.webhook.reviews import review

KEY = "ecdsa-p256"


@pytest.fixture(scope="module")
def lines(
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    module_webhook_starter: Callable[[dict[str, Any]], RunningWebhook],
) -> dict[str, Any]:
    """The webhook's audit lines for one review of each kind, and the images and digests involved."""
    images, digests = {}, {}
    for repo, signed in (("team/signed", True), ("team/unsigned", False), ("audit/unsigned", False)):
        digests[repo] = str(push_image(plain_registry, f"auditlog/{repo}", "1", content=repo.encode()))
        images[repo] = f"{plain_registry.host}/auditlog/{repo}:1"
        if signed:
            sign_image(images[repo], key_pairs[KEY], ["--insecure-registry", plain_registry.host])
    key, under = key_pairs[KEY], f"{plain_registry.host}/auditlog"
    webhook = module_webhook_starter(
        {
            "registries": {"insecure": [plain_registry.host]},
            "skipNamespaces": ["legacy"],
            "policies": [
                key_policy("team", f"{under}/team/**", key),
                key_policy("audit", f"{under}/audit/**", key, mode="warn"),
            ],
        }
    )
    posted = [
        webhook.post(review([("app", images["team/signed"])], namespace="prod", uid="allowed")),
        webhook.post(review([("app", images["team/unsigned"])], namespace="prod", uid="denied")),
        webhook.post(review([("x", "other.example/x:1")], namespace="dev", uid="unmatched")),
        webhook.post(review([("app", images["audit/unsigned"])], namespace="dev", uid="warned")),
        webhook.post(review([("app", images["team/unsigned"])], namespace="legacy", uid="skipped")),
        webhook.post(b"{not json"),
        webhook.post(
            review([("app", images["team/signed"])], namespace="prod", uid="pinned"), path="/mutate"
        ),
    ]
    assert [r.status_code for r in posted] == [200, 200, 200, 200, 200, 400, 200]
    return {"lines": list(webhook.audit_lines), "images": images, "digests": digests, "key": key_pairs[KEY]}


def _read(tmp_path: Path, text: str, *options: str) -> tuple[int, dict[str, Any], str]:
    path = tmp_path / "audit.log"
    path.write_text(text, encoding="utf-8")
    done = run_cli("audit", "log", "-o", "json", *options, str(path))
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_the_summary_of_every_kind_of_record_the_webhook_writes(
    lines: dict[str, Any], tmp_path: Path
) -> None:
    code, summary, _ = _read(tmp_path, "\n".join(lines["lines"]) + "\n")
    images, digests = lines["images"], lines["digests"]
    assert code == 0
    assert (summary["lines"], summary["records"], summary["matched"]) == (7, 7, 7)
    assert summary["by_webhook"] == {"validate": 6, "mutate": 1}
    assert summary["decisions"] == {"allow": 3, "deny": 2, "refused": 1, "would-deny": 1, "dry-run": 0}
    assert summary["by_namespace"] == [
        {"namespace": "dev", "allow": 1, "deny": 1, "would-deny": 1},
        {"namespace": "prod", "allow": 1, "deny": 1, "would-deny": 0},
        {"namespace": "legacy", "allow": 1, "deny": 0, "would-deny": 0},
    ]
    assert summary["by_policy"] == [
        {"policy": "team", "verified": 1, "denied": 1, "warned": 0},
        {"policy": "audit", "verified": 0, "denied": 0, "warned": 1},
    ]
    no_signature = 'no signature verified by the keys of policy "team" (no signatures found)'
    assert summary["deny_reasons"] == [
        {"reason": "no policy matches this image (unmatched: deny)", "count": 1},
        {"reason": no_signature, "count": 1},
    ]
    assert [(d["image"], d["namespaces"], d["reasons"]) for d in summary["denied_images"]] == [
        (images["team/unsigned"], ["prod"], [no_signature]),  # (once each: by image then)
        ("other.example/x:1", ["dev"], ["no policy matches this image (unmatched: deny)"]),
    ]
    (warned,) = summary["would_deny_images"]
    assert (warned["image"], warned["policies"]) == (images["audit/unsigned"], ["audit"])
    assert summary["skipped"] == [{"namespace": "legacy", "images": 1}]
    (signer,) = summary["admitted_by"]
    assert signer["signer"] == str(lines["key"].public)
    assert signer["key_fingerprint"].startswith("sha256:")
    # the mutate record is not a decision: the key admitted the signed image once, tag and digest
    assert signer["images"] == [images["team/signed"] + "@" + digests["team/signed"]]
    (refused,) = summary["refused"]
    assert refused["message"] == "the body is not JSON" and refused["webhook"] == "validate"
    assert summary["unreadable"] == [] and summary["other_lines"]["count"] == 0
    first, last = summary["time_range"]["first"], summary["time_range"]["last"]
    assert first <= last and first.endswith("Z")


def test_kubectl_logs_prefixes_and_mixed_in_log_lines_are_read_and_garbled_lines_reported(
    lines: dict[str, Any], tmp_path: Path
) -> None:
    audit = lines["lines"]
    text = "\n".join(
        [
            f"[pod/sigwebhook-7d9c/webhook] 2026-12-04T03:47:35.321123456Z {audit[0]}",
            "[pod/sigwebhook-7d9c/webhook] 2026-12-04T03:47:35.400000000Z WARNING sigwebhook.webhook: malformed",
            f"2026-12-04T03:47:36.000000000Z {audit[1]}",
            audit[2][: len(audit[2]) // 2],  # cut short, as a log shipper that hit its line limit
            audit[3].replace('"decision":"allow"', '"decision":"maybe"'),  # a field garbled
            audit[4].replace('"version":1', '"version":2'),  # a newer format than this reader knows
            f"[pod/sigwebhook-7d9c/webhook] {audit[5]}",
        ]
    )
    code, summary, stderr = _read(tmp_path, text + "\n")
    assert code == 1 and "3 line(s) could not be read" in stderr
    assert (summary["lines"], summary["records"]) == (7, 3)
    assert [u["where"].rsplit(":", 1)[1] for u in summary["unreadable"]] == ["4", "5", "6"]
    reasons = [u["reason"] for u in summary["unreadable"]]
    assert reasons[0].startswith("not JSON (")
    assert "decision" in reasons[1] and '"maybe"' in reasons[1]
    assert reasons[2] == "version 2: this sigwebhook reads audit records of version 1"
    assert summary["other_lines"]["count"] == 1
    assert summary["other_lines"]["first"][0]["excerpt"] == "WARNING sigwebhook.webhook: malformed"
    assert summary["decisions"]["refused"] == 1 and summary["decisions"]["deny"] == 1


def test_the_text_report_shows_the_unreadable_lines_and_each_section(
    lines: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "audit.log"
    path.write_text("\n".join([*lines["lines"], '{"version":1,"time"']) + "\n", encoding="utf-8")
    done = run_cli("audit", "log", str(path))
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "UNREADABLE: 1 lines could not be read as audit records:" in out
    assert f"{path}:8: not JSON (" in out
    for title in ("By namespace", "By policy (images)", "Why denied", "Denied images", "Would be denied",
                  "Skipped", "Admitted by", "Refused (malformed reviews)"):  # fmt: skip
        assert f"\n{title}" in out, title
    assert lines["images"]["team/unsigned"] in out


@pytest.mark.parametrize(
    ("options", "uids"),
    [
        (["--namespace", "prod"], ["allowed", "denied"]),
        (["--decision", "deny"], ["denied", "unmatched"]),
        (["--decision", "would-deny"], ["warned"]),
        (["--decision", "refused"], [None]),
        (["--image", "*/audit/*"], ["warned"]),
        (["--image", "team/unsigned"], ["denied", "skipped"]),
        (["--since", "1h"], ["allowed", "denied", "unmatched", "warned", "skipped", None]),
        (["--until", "2000-01-01T00:00:00Z"], []),
    ],
)
def test_filters_narrow_the_records_summarised(
    lines: dict[str, Any], tmp_path: Path, options: list[str], uids: list[str | None]
) -> None:
    code, summary, _ = _read(tmp_path, "\n".join(lines["lines"]) + "\n", *options)
    assert code == 0
    validate = summary["by_webhook"].get("validate", 0)
    assert validate == len(uids)
    counted = sum(summary["decisions"][d] for d in ("allow", "deny", "refused"))
    assert counted == len(uids)


def test_stdin_is_read(lines: dict[str, Any]) -> None:
    done = run_cli("audit", "log", "-o", "json", stdin=lines["lines"][0] + "\n")
    assert done.returncode == 0 and json.loads(done.stdout)["records"] == 1


def test_a_line_that_is_not_utf8_is_reported_not_decoded_into_a_record(
    lines: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "audit.log"
    latin1 = lines["lines"][0].replace('"uid":"allowed"', '"uid":"allowed\u00e9"').encode("latin-1")
    path.write_bytes(latin1 + b"\n" + lines["lines"][1].encode() + b"\n")
    done = run_cli("audit", "log", "-o", "json", str(path))
    summary = json.loads(done.stdout)
    assert done.returncode == 1 and summary["records"] == 1
    assert [(u["where"], u["reason"]) for u in summary["unreadable"]] == [(f"{path}:1", "not UTF-8 text")]


def test_a_missing_file_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    done = run_cli("audit", "log", str(tmp_path / "nope.log"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"sigwebhook: error: audit log file {tmp_path / 'nope.log'} not found"


def test_a_bad_since_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("audit", "log", "--since", "yesterday", "-")
    assert done.returncode == 2 and "--since takes a span like 30m" in done.stderr
