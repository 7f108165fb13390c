"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from nas.cli import bench as bench_cli
from nas.cli.common import Commands
from nas.tabular.benchdata import default_benchdata
from nas.testing import randomize_  # noqa: F401  (tests import it from here)

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHDATA = default_benchdata()


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture
def benchdata() -> Path:
    """The published NAS tables beside the project (never copied into it)."""
    if not BENCHDATA.is_dir():
        pytest.fail(
            f"benchmark data not found at {BENCHDATA}; it ships beside the project in ../shared (or set NAS_BENCHDATA)"
        )
    return BENCHDATA


@pytest.fixture
def bench_actions(monkeypatch: pytest.MonkeyPatch) -> tuple[argparse.ArgumentParser, list[dict[str, Any]]]:
    """The ``nas bench`` parser (its actions at the top) and the list its handlers' reports are appended to."""
    reports: list[dict[str, Any]] = []
    monkeypatch.setattr(bench_cli, "emit_report", lambda args, report: reports.append(report) or 0)
    root = argparse.ArgumentParser(prog="nas")
    bench_cli.register(Commands(root))
    commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["bench"], reports


@pytest.fixture(scope="session")
def ray_session() -> object:
    """One embedded local Ray (2 CPUs, bound to 127.0.0.1) shared by every test that needs Ray; yields ``ray``."""
    ray = pytest.importorskip("ray")
    from nas.workers.cluster import start_local_ray

    runtime_env = None
    if Path.cwd().resolve() != REPO_ROOT:  # workers get the driver's cwd on sys.path; make `tests` importable anyway
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        runtime_env = {"env_vars": {"PYTHONPATH": path}}
    start_local_ray(2, runtime_env=runtime_env)
    yield ray
    ray.shutdown()
