"""Helpers shared by the benchmark scripts: timing, machine description, recording results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SOURCE_PATHS = ("nas", "predictors", "search_spaces", "benchmarks", ":(exclude)benchmarks/results")
"""What a result depends on: the code, not the other results."""
LOAD_AT_START = os.getloadavg()
"""The load average when the benchmark imported this module, i.e. as it started."""


def median_ms(function: Callable[[], Any], repeats: int, warmup: int = 3) -> tuple[float, float]:
    """Median and interquartile range of ``function``'s wall time in milliseconds."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    quartiles = statistics.quantiles(times, n=4)
    return statistics.median(times), quartiles[2] - quartiles[0]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _git(*arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *arguments], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """What a reader needs to trust or re-run a result: the commit, whether the code differed from it (a result
    from uncommitted code cannot be reproduced from the commit), and the machine's load at the start and the end."""
    changes = _git("status", "--porcelain", "--", *SOURCE_PATHS)
    return {
        "commit": _git("rev-parse", "HEAD"),
        "code_matches_commit": None if changes is None else changes == "",
        "load_average_at_start": [round(value, 2) for value in LOAD_AT_START],
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
    }


def record(name: str, result: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine description and :func:`provenance` (a field the
    result sets itself wins)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "measured": time.strftime("%Y-%m-%d"), "machine": machine(), **provenance(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def spread(values: list[float], worst: Any = min) -> dict[str, float]:
    """Mean, standard deviation (0 for one value) and worst of a figure over runs."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "worst": worst(values),
    }
