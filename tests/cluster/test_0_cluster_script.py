"""`scripts/cluster.sh up` and `down` on their own: a Ready v1.20 node, and the machine as it was after
`down`. The lane's own cluster (conftest.node_cluster) is the second round, checked the same way at
the end of the session: up/down twice in a row.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.cluster.tools import cluster_script, machine_state, started_cluster, wait_for_the_machine

pytestmark = pytest.mark.cluster


def test_cluster_sh_starts_a_ready_one_node_cluster_and_down_leaves_the_machine_as_found():
    wait_for_the_machine()
    before = machine_state()
    state = Path(tempfile.mkdtemp(prefix="sigwebhook-cluster-"))  # short: unix sockets live under it
    try:
        up = cluster_script(state, "up", timeout=3600)
        assert up.returncode == 0, up.stderr[-5000:]
        cluster = started_cluster(state, up.stdout)
        (node,) = json.loads(cluster.kubectl_ok("get", "nodes", "-o", "json"))["items"]
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True" and node["status"]["nodeInfo"]["kubeletVersion"] == "v1.20.2"
        assert "containerd://" in node["status"]["nodeInfo"]["containerRuntimeVersion"]
    finally:
        down = cluster_script(state, "down", timeout=300)
    assert down.returncode == 0, down.stderr[-5000:]
    assert not state.exists()
    changed = {k: (before[k], v) for k, v in machine_state().items() if v != before[k]}
    assert not changed, changed
