"""`PodPullSecrets`: a pod's pull credentials from its imagePullSecrets or its ServiceAccount's,
through a short-lived cache (real `kubernetes.client` models behind the real `KubeApi` adapter)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import urllib3.exceptions
from kubernetes import client as k8s

from app.core.errors import ClusterAccessDenied, ClusterUnavailable
from app.core.trust.secretkeys import SecretRef
from app.kube.client import KubeApi
from app.kube.podpullsecrets import MAX_SECRETS_PER_POD, PodPullSecrets
from tests.fakes import ManualClock
from tests.kube.podcore import PodCore, docker_config_secret, secret_with, service_account


def lookups(core: PodCore, clock: ManualClock | None = None, **kwargs: float) -> PodPullSecrets:
    return PodPullSecrets(KubeApi(core), clock=clock or ManualClock(), **kwargs)  # type: ignore[arg-type]


async def started(core: PodCore) -> None:
    """Until the (held) API call has reached the stand-in client, in its worker thread."""
    for _ in range(2000):
        if core.reads:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("no API call was made")


def team_core() -> PodCore:
    core = PodCore()
    core.secrets[("team", "regcred")] = docker_config_secret(
        "team", "regcred", {"reg.example": ("ci", "pw1")}
    )
    core.secrets[("team", "other")] = docker_config_secret(
        "team", "other", {"reg.example": ("late", "pw2"), "other.example": ("o", "pw3")}
    )
    core.secrets[("team", "robot")] = docker_config_secret("team", "robot", {"sa.example": ("robot", "pw4")})
    core.accounts[("team", "default")] = service_account("team", "default", [])
    core.accounts[("team", "builder")] = service_account("team", "builder", ["robot"])
    return core


async def test_a_pods_image_pull_secret_gives_its_credentials_by_registry_host() -> None:
    found = await lookups(team_core()).credentials_for("team", ["regcred"], "default")
    assert found.credentials["reg.example"].username == "ci"
    assert found.credentials["reg.example"].password == "pw1"
    assert found.secrets == (SecretRef("team", "regcred"),) and found.problems == ()
    assert "pw1" not in repr(found)


async def test_the_first_secret_in_the_pods_order_wins_a_registry() -> None:
    found = await lookups(team_core()).credentials_for("team", ["regcred", "other"], "default")
    assert found.credentials["reg.example"].username == "ci"
    assert found.credentials["other.example"].username == "o"


async def test_without_image_pull_secrets_the_service_accounts_are_used() -> None:
    core = team_core()
    found = await lookups(core).credentials_for("team", [], "builder")
    assert found.credentials["sa.example"].username == "robot"
    assert ("serviceaccount", "team", "builder") in core.reads


async def test_a_pod_that_names_its_secrets_does_not_read_its_service_account() -> None:
    core = team_core()
    await lookups(core).credentials_for("team", ["regcred"], "builder")
    assert [kind for kind, _, _ in core.reads] == ["secret"]  # what the ServiceAccount plugin does


async def test_a_secret_of_another_namespace_is_never_read() -> None:
    core = team_core()
    found = await lookups(core).credentials_for("elsewhere", ["regcred"], "default")
    assert found.credentials == {}
    assert core.reads == [("secret", "elsewhere", "regcred")]
    assert found.problems == ("pull Secret k8s://elsewhere/regcred does not exist",)


async def test_a_missing_secret_is_skipped_and_remembered_as_missing() -> None:
    core = team_core()
    pulls = lookups(core)
    for _ in range(3):
        found = await pulls.credentials_for("team", ["gone", "regcred"], "default")
        assert found.credentials["reg.example"].username == "ci"
        assert "k8s://team/gone does not exist" in found.problems[0]
    assert core.secret_reads() == 2  # one per Secret, the negative answer included


async def test_a_secret_that_is_not_a_docker_config_is_skipped_with_its_reason() -> None:
    core = team_core()
    core.secrets[("team", "opaque")] = secret_with("team", "opaque", {"token": b"x"}, kind="Opaque")
    found = await lookups(core).credentials_for("team", ["opaque", "regcred"], "default")
    assert list(found.credentials) == ["reg.example"]
    assert "expected 'kubernetes.io/dockerconfigjson'" in found.problems[0]


async def test_reviews_within_the_ttl_share_one_read_and_a_changed_secret_counts_after_it() -> None:
    core, clock = team_core(), ManualClock()
    pulls = lookups(core, clock, ttl=60)
    assert (await pulls.credentials_for("team", ["regcred"], "default")).credentials[
        "reg.example"
    ].password == "pw1"
    core.secrets[("team", "regcred")] = docker_config_secret(
        "team", "regcred", {"reg.example": ("ci", "new")}
    )
    clock.advance(59)
    assert (await pulls.credentials_for("team", ["regcred"], "default")).credentials[
        "reg.example"
    ].password == "pw1"
    assert core.secret_reads() == 1
    clock.advance(2)
    assert (await pulls.credentials_for("team", ["regcred"], "default")).credentials[
        "reg.example"
    ].password == "new"
    assert core.secret_reads() == 2


async def test_concurrent_reviews_asking_for_one_secret_share_one_api_call() -> None:
    core = team_core()
    core.gate = threading.Event()
    pulls = lookups(core)
    waiting = [asyncio.ensure_future(pulls.credentials_for("team", ["regcred"], "default")) for _ in range(5)]
    await started(core)  # the held call is under way: all five wait on it
    core.gate.set()
    results = await asyncio.gather(*waiting)
    assert all(r.credentials["reg.example"].username == "ci" for r in results)
    assert core.secret_reads() == 1


async def test_a_review_that_gives_up_does_not_cancel_the_read_others_wait_for() -> None:
    core = team_core()
    core.gate = threading.Event()
    pulls = lookups(core)
    impatient = asyncio.ensure_future(pulls.credentials_for("team", ["regcred"], "default"))
    patient = asyncio.ensure_future(pulls.credentials_for("team", ["regcred"], "default"))
    await started(core)
    impatient.cancel()
    core.gate.set()
    assert (await patient).credentials["reg.example"].username == "ci"
    assert core.secret_reads() == 1


async def test_an_api_server_refusal_is_a_problem_not_an_error_and_is_retried_after_a_few_seconds() -> None:
    core, clock = team_core(), ManualClock()
    core.errors[("team", "regcred")] = 403
    pulls = lookups(core, clock, error_ttl=5)
    for _ in range(2):
        found = await pulls.credentials_for("team", ["regcred"], "default")
        assert found.credentials == {} and "HTTP 403" in found.problems[0]
    assert core.secret_reads() == 1
    del core.errors[("team", "regcred")]
    clock.advance(6)
    assert (await pulls.credentials_for("team", ["regcred"], "default")).credentials[
        "reg.example"
    ].username == "ci"


async def test_an_unreadable_service_account_is_a_problem_and_gives_no_credentials() -> None:
    core = team_core()
    core.errors[("team", "builder")] = 500
    found = await lookups(core).credentials_for("team", [], "builder")
    assert found.credentials == {}
    assert found.problems[0].startswith("ServiceAccount team/builder: cannot read ServiceAccount")


async def test_a_missing_service_account_gives_no_credentials_and_no_problem() -> None:
    found = await lookups(team_core()).credentials_for("team", [], "ghost")
    assert found.credentials == {} and found.problems == ()


async def test_the_cache_keeps_at_most_max_entries() -> None:
    core = team_core()
    pulls = lookups(core, max_entries=2)
    for name in ("regcred", "other", "robot"):
        await pulls.credentials_for("team", [name], "default")
    assert len(pulls.secrets) == 2
    await pulls.credentials_for("team", ["regcred"], "default")  # the oldest was dropped: read again
    assert core.secret_reads() == 4


async def test_a_pod_naming_too_many_secrets_has_only_the_first_ones_read() -> None:
    core = team_core()
    names = [f"s{i}" for i in range(MAX_SECRETS_PER_POD + 5)]
    found = await lookups(core).credentials_for("team", names, "default")
    assert core.secret_reads() == MAX_SECRETS_PER_POD
    assert any("first 16 of 21" in p for p in found.problems)


async def test_an_invalid_secret_name_is_a_problem_without_an_api_call() -> None:
    core = team_core()
    found = await lookups(core).credentials_for("team", ["Not_A_Name"], "default")
    assert core.reads == [] and "invalid Secret name" in found.problems[0]


async def test_no_namespace_means_no_credentials_and_no_api_call() -> None:
    core = team_core()
    assert (await lookups(core).credentials_for(None, ["regcred"], "default")).credentials == {}
    assert core.reads == []


def test_the_adapter_reads_a_secret_and_maps_404_to_none_and_403_to_access_denied() -> None:
    core = team_core()
    api = KubeApi(core)
    secret = api.read_secret(SecretRef("team", "regcred"))
    assert secret is not None and secret.type == "kubernetes.io/dockerconfigjson"
    assert api.read_secret(SecretRef("team", "nope")) is None
    core.errors[("team", "regcred")] = 403
    with pytest.raises(ClusterAccessDenied):
        api.read_secret(SecretRef("team", "regcred"))
    assert api.read_service_account_pull_secrets("team", "builder") == ("robot",)
    assert api.read_service_account_pull_secrets("team", "ghost") is None
    core.errors[("team", "builder")] = 500
    with pytest.raises(ClusterUnavailable):
        api.read_service_account_pull_secrets("team", "builder")


def test_a_network_failure_reading_a_secret_leaves_the_adapter_as_cluster_unavailable() -> None:
    class Unreachable(PodCore):
        def read_namespaced_secret(self, name: str, namespace: str, **kwargs: object) -> k8s.V1Secret:
            raise urllib3.exceptions.MaxRetryError(None, f"/api/v1/namespaces/{namespace}/secrets/{name}")  # type: ignore[arg-type]

    with pytest.raises(ClusterUnavailable, match="did not answer"):
        KubeApi(Unreachable()).read_secret(SecretRef("team", "regcred"))
