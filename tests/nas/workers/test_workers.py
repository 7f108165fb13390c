"""EvaluationPool on a real embedded Ray and in-process: results, build-once, errors, crashes, in-flight limit."""

from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nas.workers.cluster import _probe, connect_ray, start_local_ray
from nas.workers.pool import Completed, EvaluationPool, EvaluatorSpec
from search_spaces import ConfigError, NasError

FACTORY = "tests.nas.workers.test_workers:make_evaluator"
_BUILDS = 0


def make_evaluator(scale: float = 1.0, fail_build: bool = False) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Test evaluator (imported by the Ray workers): y = scale * x; payload flags make it sleep, log its run
    interval, raise, or kill its own process."""
    global _BUILDS
    if fail_build:
        raise RuntimeError("checkpoint missing")
    _BUILDS += 1
    builds = _BUILDS

    def evaluate(payload: dict[str, Any]) -> dict[str, Any]:
        if "crash_once" in payload:
            marker = Path(payload["crash_once"])
            if not marker.exists():
                marker.touch()
                os._exit(1)
        if payload.get("crash_always"):
            os._exit(1)
        if payload.get("fail"):
            raise ValueError(f"bad payload {payload['x']}")
        started = time.monotonic()
        time.sleep(payload.get("sleep", 0.0))
        if "log" in payload:
            Path(payload["log"], f"{payload['x']}.json").write_text(json.dumps([started, time.monotonic()]))
        return {"y": scale * payload["x"], "pid": os.getpid(), "builds": builds}

    return evaluate


def _drain(pool: EvaluationPool, timeout: float = 90.0) -> dict[int, Completed]:
    """The driver loop: collect until nothing is pending."""
    done: dict[int, Completed] = {}
    deadline = time.monotonic() + timeout
    while pool.pending:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "the pool did not finish in time"
        for item in pool.completed(timeout=remaining):
            assert item.task_id not in done
            done[item.task_id] = item
    return done


@pytest.fixture(scope="module")
def pool(ray_session: Any) -> Iterator[EvaluationPool]:
    """Two Ray workers (half a CPU each, so other pools fit beside them on the 2-CPU test Ray)."""
    with EvaluationPool(EvaluatorSpec(FACTORY, {"scale": 2.0}), workers=2, cpus_per_worker=0.5) as pool:
        pool.wait_ready(timeout=120)
        yield pool


def test_ray_results_match_local_and_each_worker_builds_once(pool: EvaluationPool) -> None:
    restarts = pool.restarts
    payloads = [{"x": i, "sleep": 0.05} for i in range(8)]
    for i, payload in enumerate(payloads):
        pool.submit(i, payload)
    assert pool.pending == 8
    remote = _drain(pool)
    assert pool.pending == 0

    with EvaluationPool(EvaluatorSpec(FACTORY, {"scale": 2.0}), workers=2, backend="local") as local_pool:
        for i, payload in enumerate(payloads):
            local_pool.submit(i, payload)
        local = _drain(local_pool)
        assert local_pool.busy_seconds[0] >= 8 * 0.05

    assert sorted(remote) == sorted(local) == list(range(8))
    assert all(c.error is None and c.attempts == 1 for c in [*remote.values(), *local.values()])
    assert [remote[i].result["y"] for i in range(8)] == [local[i].result["y"] for i in range(8)]
    assert [local[i].result["y"] for i in range(8)] == [2.0 * i for i in range(8)]
    assert all(remote[i].payload == payloads[i] for i in range(8))
    pids = {c.result["pid"] for c in remote.values()}
    assert os.getpid() not in pids and len(pids) <= 2 + restarts
    assert all(c.result["builds"] == 1 for c in remote.values())  # each worker process built its evaluator once
    assert {c.worker for c in remote.values()} == {0, 1}
    assert {c.result["pid"] for c in local.values()} == {os.getpid()}
    assert len({c.result["builds"] for c in local.values()}) == 1
    assert sum(pool.busy_seconds.values()) >= 8 * 0.05
    assert all(c.seconds >= 0.05 for c in remote.values())


def test_evaluator_exception_comes_back_as_error(pool: EvaluationPool) -> None:
    pool.submit(0, {"x": 3, "fail": True})
    pool.submit(1, {"x": 4})
    done = _drain(pool)
    assert done[0].result is None
    assert done[0].error == "ValueError: bad payload 3"
    assert "Traceback" in done[0].traceback and done[0].attempts == 1
    assert done[1].error is None and done[1].result["y"] == 8.0

    with EvaluationPool(EvaluatorSpec(FACTORY), backend="local") as local:
        local.submit(0, {"x": 3, "fail": True})
        (item,) = local.completed()
    assert item.error == "ValueError: bad payload 3" and item.result is None


def test_dead_worker_is_replaced_and_its_task_requeued(pool: EvaluationPool, tmp_path: Path) -> None:
    restarts = pool.restarts
    marker = tmp_path / "crashed"
    pool.submit(10, {"x": 1, "crash_once": str(marker)})
    for i in range(3):
        pool.submit(11 + i, {"x": 2 + i})
    done = _drain(pool)
    assert marker.exists()
    assert all(c.error is None for c in done.values()), [c.error for c in done.values()]
    assert done[10].result["y"] == 2.0 and done[10].attempts == 2
    assert [done[11 + i].result["y"] for i in range(3)] == [4.0, 6.0, 8.0]
    assert pool.restarts == restarts + 1

    pool.max_retries = 0  # a task that kills every worker comes back as an error once retries are spent
    try:
        pool.submit(20, {"x": 0, "crash_always": True})
        failed = _drain(pool)[20]
    finally:
        pool.max_retries = 2
    assert failed.result is None and failed.error.startswith("WorkerDied")
    assert pool.restarts == restarts + 2

    pool.submit(30, {"x": 5})
    assert _drain(pool)[30].result["y"] == 10.0


def test_max_in_flight_is_respected(ray_session: Any, tmp_path: Path) -> None:
    spec = EvaluatorSpec(FACTORY)
    with EvaluationPool(spec, workers=2, cpus_per_worker=0.5, max_in_flight=1) as pool:
        pool.wait_ready(timeout=120)
        for i in range(4):
            pool.submit(i, {"x": i, "sleep": 0.1, "log": str(tmp_path)})
        assert pool.pending == 4 and pool.free_slots == 0
        done = _drain(pool)
    intervals = sorted(json.loads(path.read_text()) for path in tmp_path.glob("*.json"))
    assert len(intervals) == 4 and len(done) == 4
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end  # never two at once
    assert {c.worker for c in done.values()} == {0, 1}  # both workers served, one at a time


def test_evaluator_that_cannot_be_built_raises(ray_session: Any) -> None:
    with EvaluationPool(EvaluatorSpec(FACTORY, {"fail_build": True}), workers=1, cpus_per_worker=0.5) as pool:
        with pytest.raises(NasError, match="checkpoint missing"):
            pool.wait_ready(timeout=120)
        pool.submit(0, {"x": 1})
        with pytest.raises(NasError, match=r"could not build the evaluator .*checkpoint missing"):
            pool.completed(timeout=120)


def _listening_addresses() -> list[tuple[str, str]]:
    psutil = pytest.importorskip("psutil")  # ray vendors psutil
    me = psutil.Process()
    found = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            connections = proc.net_connections(kind="inet")
            found += [(proc.name(), c.laddr.ip) for c in connections if c.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_local_ray_listens_on_loopback_only(ray_session: Any) -> None:
    gcs = ray_session.get_runtime_context().gcs_address
    assert gcs.startswith("127.0.0.1:")
    listening = _listening_addresses()
    assert len(listening) >= 3  # gcs_server, raylet, this driver's core worker, ...
    assert all(ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for _, ip in listening), listening
    start_local_ray(2)  # a second call leaves the running Ray alone
    assert ray_session.get_runtime_context().gcs_address == gcs


def test_connect_ray_fails_fast(ray_session: Any) -> None:
    gcs = ray_session.get_runtime_context().gcs_address
    host, _, port = gcs.rpartition(":")
    _probe(gcs, host, int(port), 5.0)  # a live GCS answers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(NasError, match="no Ray cluster reachable"):
        _probe(f"127.0.0.1:{free}", "127.0.0.1", free, 5.0)
    assert time.monotonic() - started < 5.0
    with pytest.raises(NasError, match="already runs"):
        connect_ray(gcs)
    with pytest.raises(ConfigError, match="HOST:PORT") as info:
        connect_ray("not-an-address")
    assert info.value.field == "address"


def test_pool_refuses_more_cpus_than_the_cluster_has(ray_session: Any) -> None:
    with pytest.raises(ConfigError, match="need 3 CPUs") as info:
        EvaluationPool(EvaluatorSpec(FACTORY), workers=3, cpus_per_worker=1.0)
    assert info.value.field == "cpus_per_worker"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("no_colon", "package.module:function"),
        ("tests.nas:", "package.module:function"),
        ("tests.nas.workers.no_such_module:make", "cannot import module 'tests.nas.workers.no_such_module'"),
        ("tests.nas.workers.test_workers:no_such_function", "has no attribute 'no_such_function'"),
        ("tests.nas.workers.test_workers:FACTORY", "not a function"),
    ],
)
def test_bad_factory_is_a_config_error(factory: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        EvaluationPool(EvaluatorSpec(factory), backend="local")
    assert info.value.field == "factory" and info.value.value == factory


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"cpus_per_worker": 0}, "cpus_per_worker", "> 0"),
        ({"cpus_per_worker": -1.0}, "cpus_per_worker", "> 0"),
        ({"gpus_per_worker": -0.5}, "gpus_per_worker", ">= 0"),
        ({"workers": 0}, "workers", ">= 1"),
        ({"max_in_flight": 0}, "max_in_flight", ">= 1"),
        ({"max_retries": -1}, "max_retries", ">= 0"),
        ({"backend": "dask"}, "backend", "valid backends: ray, local"),
    ],
)
def test_bad_pool_arguments_are_config_errors(kwargs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        EvaluationPool(EvaluatorSpec(FACTORY), **kwargs)
    assert info.value.field == field
    if field == "backend":
        assert info.value.allowed == ["ray", "local"]


def test_missing_ray_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if it were not installed
    with pytest.raises(ConfigError, match=r"install it .* or use backend 'local'"):
        EvaluationPool(EvaluatorSpec(FACTORY), backend="ray")
    with pytest.raises(ConfigError, match="install it"):
        start_local_ray(1)


def test_local_pool_bookkeeping() -> None:
    pool = EvaluationPool(EvaluatorSpec(FACTORY, {"scale": 3.0}), backend="local")
    assert pool.completed() == [] and pool.pending == 0 and pool.free_slots == 2
    pool.submit(7, {"x": 1})
    with pytest.raises(ConfigError, match="already pending"):
        pool.submit(7, {"x": 2})
    with pytest.raises(ConfigError, match="payload must be a dict"):
        pool.submit(8, ["x"])  # type: ignore[arg-type]
    (item,) = pool.completed()
    assert (item.task_id, item.result["y"], item.worker) == (7, 3.0, 0)
    pool.submit(7, {"x": 2})  # the id is free again once returned
    pool.close()
    assert pool.completed() == []
    with pytest.raises(NasError, match="closed"):
        pool.submit(9, {"x": 1})
