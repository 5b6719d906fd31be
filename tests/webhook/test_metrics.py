"""Prometheus metrics: the `/metrics` endpoint on its own port, scraped after a run of real reviews
over HTTPS (real registry, images signed by `sigwebhook sign`), shows the counts of that run."""

from __future__ import annotations

import platform
import socket
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.compose import Webhook, build_webhook
from app.config import load_settings
from app.core.errors import ConfigError
from tests.fixtures.registry import TestRegistry, push_image
from tests.fixtures.signing import KeyPair, key_policy, sign_image
from tests.fixtures.webhook import RunningWebhook, serve_in_thread, with_tls
from tests.support.certs import ServerTls
from tests.webhook.reviews import review, workload_review

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Served:
    """A running webhook and its metrics endpoint."""

    def __init__(self, webhook: RunningWebhook, built: Webhook) -> None:
        self.webhook, self.built = webhook, built

    def scrape(self) -> Samples:
        assert self.built.metrics is not None
        response = httpx.get(f"http://127.0.0.1:{self.built.metrics.port}/metrics", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every label set that includes `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def serve(webhook_tls: ServerTls, tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Served]]:
    running: list[RunningWebhook] = []

    def start(config: dict[str, Any]) -> Served:
        path = tmp_path / f"config-{len(running)}.yaml"
        path.write_text(yaml.safe_dump(with_tls(config, webhook_tls)))
        webhook = RunningWebhook("", webhook_tls.ca_file, path)
        built = build_webhook(load_settings(path), audit=webhook.audit_lines.append)
        built.start()
        webhook._stop = built.stop
        running.append(webhook)
        serve_in_thread(webhook, built.app, built.certificate)
        return Served(webhook, built)

    yield start
    for webhook in running:
        webhook.stop()


@pytest.fixture(scope="module")
def images(plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]) -> dict[str, str]:
    host = plain_registry.host
    found = {}
    for name in ("signed", "unsigned"):
        push_image(plain_registry, f"metrics/{name}", "1", content=f"metrics-{name}".encode())
        found[name] = f"{host}/metrics/{name}:1"
    sign_image(found["signed"], key_pairs["ecdsa-p256"], ["--insecure-registry", host])
    found["unmatched"] = f"{host}/elsewhere/app:1"
    return found


def config(registry: TestRegistry, key: KeyPair, **metrics: Any) -> dict[str, Any]:
    return {
        "registries": {"insecure": [registry.host]},
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0, **metrics},
        "policies": [key_policy("team", f"{registry.host}/metrics/**", key)],
    }


def test_a_scrape_after_a_run_of_reviews_shows_the_counts_of_that_run(
    serve: Callable[[dict[str, Any]], Served],
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    images: dict[str, str],
) -> None:
    served = serve(config(plain_registry, key_pairs["ecdsa-p256"]))
    post = served.webhook.post
    assert post(review([("app", images["signed"])])).json()["response"]["allowed"] is True
    assert post(review([("app", images["signed"])])).json()["response"]["allowed"] is True
    assert post(review([("app", images["unsigned"])])).json()["response"]["allowed"] is False
    assert post(review([("app", images["unmatched"])])).json()["response"]["allowed"] is False
    assert post(review([("app", images["signed"])], operation="DELETE")).status_code == 200
    deployment = workload_review("apps/v1 Deployment", [("web", images["unsigned"])])
    assert post(deployment).json()["response"]["allowed"] is False
    assert post(b"not json").status_code == 400

    s = served.scrape()
    reviews = "sigwebhook_reviews_total"
    assert value(s, reviews, decision="allowed", kind="Pod", operation="CREATE") == 2
    assert value(s, reviews, decision="denied", kind="Pod", operation="CREATE") == 2
    assert value(s, reviews, decision="allowed", kind="Pod", operation="DELETE") == 1
    assert value(s, reviews, decision="denied", kind="Deployment", operation="CREATE") == 1
    assert value(s, reviews, decision="malformed", kind="other", operation="other") == 1
    assert total(s, reviews) == 7

    verdicts = "sigwebhook_image_verdicts_total"
    assert value(s, verdicts, verdict="verified", reason="signed") == 2
    assert value(s, verdicts, verdict="denied", reason="unsigned") == 2
    assert value(s, verdicts, verdict="denied", reason="unmatched") == 1
    assert total(s, verdicts) == 5

    assert value(s, "sigwebhook_review_duration_seconds_count", kind="Pod") == 5
    assert value(s, "sigwebhook_review_duration_seconds_count", kind="Deployment") == 1
    assert value(s, "sigwebhook_review_duration_seconds_sum", kind="Pod") > 0

    # Verified twice (a miss, then a hit), the unsigned image twice (a miss, then the deny it remembers
    # for `verdictCache.negativeTtlSeconds`: a hit).
    assert value(s, "sigwebhook_verdict_cache_requests_total", result="hit") == 2
    assert value(s, "sigwebhook_verdict_cache_requests_total", result="miss") == 2

    requests = "sigwebhook_registry_requests_total"
    assert value(s, requests, registry=plain_registry.host, outcome="ok") > 0
    assert value(s, requests, registry=plain_registry.host, outcome="not_found") >= 1  # no .sig tag
    assert value(s, "sigwebhook_registry_requests_in_flight") == 0  # every slot given back
    assert value(s, "sigwebhook_registry_requests_waiting") == 0
    assert value(s, "sigwebhook_registry_pool_rebuilds_total") == 0
    assert (
        value(s, "sigwebhook_build_info", version=_installed_version(), python=platform.python_version()) == 1
    )


def test_a_verdict_from_the_cache_costs_exactly_one_registry_request_the_tags_head(
    serve: Callable[[dict[str, Any]], Served],
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    images: dict[str, str],
) -> None:
    served = serve(config(plain_registry, key_pairs["ecdsa-p256"]))
    served.webhook.post(review([("app", images["signed"])]))
    before = served.scrape()
    served.webhook.post(review([("app", images["signed"])]))
    after = served.scrape()
    name, host = "sigwebhook_registry_requests_total", plain_registry.host
    assert total(after, name) - total(before, name) == 1
    assert (
        value(after, name, registry=host, outcome="ok") - value(before, name, registry=host, outcome="ok")
        == 1
    )


def test_a_registry_that_is_down_is_counted_as_an_error_not_as_an_answer(
    serve: Callable[[dict[str, Any]], Served], key_pairs: dict[str, KeyPair]
) -> None:
    dead = f"127.0.0.1:{_closed_port()}"
    served = serve(
        {
            "registries": {"insecure": [dead], "timeoutSeconds": 2},
            "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
            "policies": [key_policy("p", f"{dead}/**", key_pairs["ecdsa-p256"])],
        }
    )
    assert served.webhook.post(review([("app", f"{dead}/app:1")])).json()["response"]["allowed"] is False
    s = served.scrape()
    assert value(s, "sigwebhook_registry_requests_total", registry=dead, outcome="error") >= 1
    assert value(s, "sigwebhook_image_verdicts_total", verdict="denied", reason="registry-unavailable") == 1


def test_metrics_are_not_served_on_the_admission_port(
    serve: Callable[[dict[str, Any]], Served], plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]
) -> None:
    served = serve(config(plain_registry, key_pairs["ecdsa-p256"]))
    assert served.webhook.get("/metrics").status_code == 404


def test_two_webhooks_in_one_process_keep_separate_counts(
    serve: Callable[[dict[str, Any]], Served],
    plain_registry: TestRegistry,
    key_pairs: dict[str, KeyPair],
    images: dict[str, str],
) -> None:
    first = serve(config(plain_registry, key_pairs["ecdsa-p256"]))
    second = serve(config(plain_registry, key_pairs["ecdsa-p256"]))
    first.webhook.post(review([("app", images["unsigned"])]))
    assert total(first.scrape(), "sigwebhook_reviews_total") == 1
    assert total(second.scrape(), "sigwebhook_reviews_total") == 0


def test_with_metrics_off_no_metrics_port_is_opened(
    serve: Callable[[dict[str, Any]], Served], plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]
) -> None:
    served = serve(config(plain_registry, key_pairs["ecdsa-p256"], enabled=False))
    assert served.built.metrics is None
    assert not any(type(part).__name__ == "MetricsServer" for part in served.built.background)


def test_a_metrics_port_in_use_stops_start_up_naming_the_field(
    webhook_tls: ServerTls, tmp_path: Path, plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "config.yaml"
        path.write_text(
            yaml.safe_dump(with_tls(config(plain_registry, key_pairs["ecdsa-p256"], port=port), webhook_tls))
        )
        built = build_webhook(load_settings(path), audit=lambda _: None)
        with pytest.raises(ConfigError, match=r"metrics\.port: cannot listen on 127\.0\.0\.1:\d+"):
            built.start()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _installed_version() -> str:
    try:
        return metadata.version("sigwebhook")
    except metadata.PackageNotFoundError:
        return "unknown"


def test_stopping_the_webhook_closes_the_metrics_port(
    serve: Callable[[dict[str, Any]], Served], plain_registry: TestRegistry, key_pairs: dict[str, KeyPair]
) -> None:
    served = serve(config(plain_registry, key_pairs["ecdsa-p256"]))
    assert served.built.metrics is not None
    port = served.built.metrics.port
    assert served.scrape()  # serving
    served.built.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
