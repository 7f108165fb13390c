"""A real multi-node Ray cluster on this machine for tests: a head and further nodes started with ``ray start``, all
on 127.0.0.1, each in its own process group so a node can be killed alone and everything is stopped afterwards
(never ``ray stop``, which would also stop the embedded Ray other tests share)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import REPO_ROOT

RAY_START = (
    "import sys; from ray._private import services; "
    "services.resolve_ip_for_localhost = lambda host: host; "  # keep --node-ip-address=127.0.0.1 as given
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)
"""``ray start`` with the node on 127.0.0.1: by itself Ray swaps a loopback ``--node-ip-address`` for the machine's
routable address (its single-machine switch would keep loopback but refuses to start a second node)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RayNodes:
    """The nodes started so far; :meth:`add` starts one, :meth:`kill` SIGKILLs one's whole process group."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        # every process of the cluster (nodes, drivers) with the same authentication whatever ~/.ray holds: Ray
        # turns tokens on for `ray start` when a token file exists, but never for a driver given an address
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(REPO_ROOT)}

    def add(self, name: str, num_cpus: int, resources: Mapping[str, float] | None = None) -> None:
        """Start node ``name`` (the first one started is the head) and wait until the cluster lists it."""
        command = [
            sys.executable,
            "-c",
            RAY_START,
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={num_cpus}",
            "--disable-usage-stats",
        ]
        if resources:
            command.append(f"--resources={json.dumps(dict(resources))}")
        if not self.nodes:
            command += ["--head", f"--port={self.port}", "--include-dashboard=false"]
        else:
            command.append(f"--address={self.address}")
        log = (self.folder / f"ray-{name}.log").open("wb")
        self.nodes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env
        )
        self.wait_for_nodes(len(self.nodes))

    def alive_nodes(self) -> int:
        """How many nodes the head reports alive (0 while it does not answer)."""
        script = (
            "import ray, sys; from nas.workers.cluster import connect_ray; connect_ray(sys.argv[1]); "
            "print(sum(n['Alive'] for n in ray.nodes()))"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, self.address], capture_output=True, text=True, timeout=120, env=self.env
        )
        lines = done.stdout.strip().splitlines()
        return int(lines[-1]) if done.returncode == 0 and lines and lines[-1].isdigit() else 0

    def wait_for_nodes(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.nodes.items():
                if process.poll() is not None:
                    log = (self.folder / f"ray-{name}.log").read_text(errors="replace")[-3000:]
                    raise AssertionError(f"ray node {name} exited ({process.returncode}):\n{log}")
            if self.alive_nodes() >= count:
                return
            time.sleep(1)
        raise AssertionError(f"the Ray cluster at {self.address} did not reach {count} nodes")

    def kill(self, name: str) -> None:
        """SIGKILL node ``name``'s raylet, object store and workers at once."""
        process = self.nodes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop(self) -> None:
        """Stop every node, workers included (SIGTERM, then SIGKILL what is left)."""
        for process in self.nodes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for name in list(self.nodes):
            process = self.nodes[name]
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.nodes.clear()


@contextmanager
def ray_nodes(folder: Path) -> Iterator[RayNodes]:
    """A cluster with no nodes yet; every node is stopped on exit."""
    nodes = RayNodes(folder)
    try:
        yield nodes
    finally:
        nodes.stop()
