"""Profiling on a device of a real two-node Ray cluster: the second node advertises ``device:test``, ``nas profile
--on device:test`` runs there and writes the table on the driver, and ``nas devices`` lists it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.reliability.ray_nodes import ray_nodes

QUICK_PROFILE = [
    "--space", "ofa_mbv3_small", "--device", "cpu", "--threads", "1", "--num-classes", "10", "--calibration", "6",
    "--repeats", "3", "--rounds", "2", "--min-time", "0.001",
]  # fmt: skip


def nas(*arguments: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = env or {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "nas", *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def node_with(address: str, resource: str, env: dict[str, str]) -> str:
    """The id of the node advertising ``resource``."""
    script = (
        "import ray, sys; from nas.workers.cluster import connect_ray; connect_ray(sys.argv[1]); "
        "print([n['NodeID'] for n in ray.nodes() if n['Alive'] and sys.argv[2] in n['Resources']][0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, address, resource], capture_output=True, text=True, timeout=120, env=env
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_profile_runs_on_the_node_advertising_the_device_and_nas_devices_lists_it(tmp_path: Path) -> None:
    with ray_nodes(tmp_path) as cluster:
        cluster.add("head", num_cpus=1)
        cluster.add("device", num_cpus=1, resources={"device:test": 1})
        refused = nas(
            "profile",
            *QUICK_PROFILE,
            "--ray-address",
            cluster.address,
            "--on",
            "device:pi5",
            cwd=tmp_path,
            env=cluster.env,
        )
        assert refused.returncode == 2 and "device:pi5" in refused.stderr and "device:test" in refused.stderr

        done = nas("profile", *QUICK_PROFILE, "--validate", "4", "--ray-address", cluster.address, "--on",
                   "device:test", "--json", cwd=tmp_path, env=cluster.env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        report: dict[str, Any] = json.loads(done.stdout)
        (row,) = report["devices"]
        table_file = tmp_path / "runs" / "latency" / "test" / "cpu-ofa_mbv3_small-b1.json"
        assert Path(row["table"]) == table_file.relative_to(tmp_path) and table_file.exists()
        table = json.loads(table_file.read_text())
        assert table["machine"]["ray_resource"] == "device:test"
        assert table["machine"]["ray_node"] == node_with(cluster.address, "device:test", cluster.env)
        assert table["validation"]["subnets"] == 4 and table["entries"]

    listed = nas("devices", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-3000:]
    (device,) = json.loads(listed.stdout)["tables"]
    assert (device["device"], device["runtime"], device["space"], device["batch"]) == (
        "device:test", "cpu", "ofa_mbv3_small", 1
    )  # fmt: skip
    assert device["mape"] == table["validation"]["mape"] and device["subnets"] == 4
