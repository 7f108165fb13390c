"""Specializing for four devices in one search against one device's search: wall time of the same number of trials.

The four "devices" are the four runtimes of this machine, each profiled into its own latency table first (PyTorch
eager and ONNX Runtime, 1 and 2 threads, ``ofa_mbv3_small``, quick settings). The searches evaluate accuracy on a
``ofa_mbv3_small`` supernet (fresh weights: the cost, not the accuracy, is measured) in this process, on digits:
one with objectives accuracy and the first device's latency, one with ``--per-device`` over all four devices
(objectives accuracy and each device's latency, a front per device). Seeds 0, 1 and 2, the two searches alternating;
the record keeps each seed's wall times and the ratio's mean, standard deviation and worst (target: four devices
cost at most 1.2x one device's search; four separate searches would cost about 4x).

Run: bash .ci/venv python benchmarks/multi_device_search.py [--trials 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import nas
from nas.profile.tables import profile_table
from nas.profile.timers import create_timer
from nas.search.config import EvaluationConfig, ExecutionConfig
from nas.search.driver import SearchConfig, run_search

SPACE = "ofa_mbv3_small"
DEVICES = {"eager1": ("cpu", 1), "eager2": ("cpu", 2), "ort1": ("onnxruntime", 1), "ort2": ("onnxruntime", 2)}
SEEDS = (0, 1, 2)
TARGET = 1.2


def profile_devices(work: Path) -> dict[str, Any]:
    """One latency table per device; their files and profiling seconds."""
    facts = {}
    for name, (runtime, threads) in DEVICES.items():
        timer = create_timer(runtime, threads, min_repeats=5, min_seconds=0.02, rounds=3)
        table = profile_table(nas.get_space(SPACE), timer, 1, 10, calibration=20, seed=0, progress=False)
        path = work / f"{name}.json"
        table.save(path)
        facts[name] = {"table": str(path), "runtime": runtime, "threads": threads, "parts": len(table.entries)}
        print(f"profiled {name}: {len(table.entries)} parts", flush=True)
    return facts


def search_seconds(
    tables: dict[str, Any], devices: list[str], supernet: Path, trials: int, seed: int, work: Path
) -> float:
    """Wall seconds of a search over ``devices`` (``--per-device`` when several)."""
    config = SearchConfig(
        objectives=("accuracy", *(f"latency@{d}" for d in devices)),
        latency_tables=tuple(f"{d}={tables[d]['table']}" for d in devices),
        per_device=len(devices) > 1,
        supernet=str(supernet),
        trials=trials,
        population=12,
        seed=seed,
        evaluation=EvaluationConfig(calibration_images=128),
        execution=ExecutionConfig(ray=False),
    )
    name = f"{len(devices)}dev-s{seed}"
    result = run_search(config, name, work, progress=False)
    return result.wall_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=60, help="trials of each search (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        tables = profile_devices(work)
        supernet = work / "supernet.pt"
        nas.save_supernet(nas.create_supernet(SPACE, num_classes=10), supernet)
        runs = []
        for seed in SEEDS:
            one = search_seconds(tables, ["eager1"], supernet, args.trials, seed, work)
            four = search_seconds(tables, list(DEVICES), supernet, args.trials, seed, work)
            runs.append({"seed": seed, "one_device_s": round(one, 2), "four_devices_s": round(four, 2),
                         "ratio": round(four / one, 3)})  # fmt: skip
            print(f"seed {seed}: one device {one:.1f} s, four devices {four:.1f} s ({four / one:.2f}x)", flush=True)
    ratios = [run["ratio"] for run in runs]
    path = record(
        "multi_device_search",
        {
            "space": SPACE,
            "devices": {name: {k: v for k, v in facts.items() if k != "table"} for name, facts in tables.items()},
            "trials": args.trials,
            "seeds": list(SEEDS),
            "runs": runs,
            "ratio": {
                "mean": round(statistics.mean(ratios), 3),
                "std": round(statistics.stdev(ratios), 3),
                "worst": round(max(ratios), 3),
            },
            "target_ratio": TARGET,
            "met": max(ratios) <= TARGET,
        },
    )
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
