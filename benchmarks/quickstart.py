"""Record the quickstart's figures over seeds: accuracy of the largest, smallest and 20 random subnets, and the
training time, from ``nas quickstart`` runs without their search (2 threads, seeds 0, 1, 2 by default).

Run: bash .ci/venv python benchmarks/quickstart.py [--seeds 0 1 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record, spread

from nas.quickstart.digits import run_quickstart

TRAIN_BUDGET_S = 600.0
FIGURES = ("largest_test_accuracy", "smallest_test_accuracy", "random_test_accuracy_min")
"""The accuracies the quickstart's targets bound, per run."""


def measure(seed: int, threads: int, name: str, progress: bool = False) -> dict[str, Any]:
    """One quickstart run's training and subnet evaluation (its search is benchmarked by ``search_cpu.py``) and its
    figures."""
    torch.set_num_threads(threads)
    report = run_quickstart(name, seed=seed, threads=threads, progress=progress, search_trials=0)
    accuracies = [row["test_accuracy"] for row in report["subnets"]]
    return {
        "seed": seed,
        "threads": threads,
        "run_dir": report["run_dir"],
        "train_seconds": report["train_seconds"],
        "total_seconds": report["total_seconds"],
        "largest_test_accuracy": accuracies[0],
        "smallest_test_accuracy": accuracies[1],
        "random_test_accuracy_min": min(accuracies[2:]),
        "random_test_accuracy_max": max(accuracies[2:]),
        "all_targets_met": report["all_targets_met"],
        "within_budget": report["train_seconds"] <= TRAIN_BUDGET_S,
        "subnets": [
            {k: row[k] for k in ("subnet", "resolution", "macs", "test_accuracy", "met")} for row in report["subnets"]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="bench-quickstart", help="run folders are runs/<tag>-s<seed>")
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:  # recorded after every seed: an interrupted run keeps the seeds it finished
        runs.append(measure(seed, args.threads, f"{args.tag}-s{seed}", progress=True))
        result = {
            "data": "digits (1,257 train / 180 val / 360 test)",
            "supernet": "ofa_mbv3_small",
            "seeds": [run["seed"] for run in runs],
            "threads": args.threads,
            "train_budget_seconds": TRAIN_BUDGET_S,
            "runs": runs,
            "over_seeds": {
                **{figure: spread([run[figure] for run in runs]) for figure in FIGURES},
                "train_seconds": spread([run["train_seconds"] for run in runs], worst=max),
            },
            "all_targets_met": all(run["all_targets_met"] for run in runs),
            "within_budget": all(run["within_budget"] for run in runs),
        }
        path = record("quickstart", result)
        figures = ", ".join(f"{figure} {runs[-1][figure]:.4f}" for figure in FIGURES)
        print(f"seed {seed}: {figures}; trained in {runs[-1]['train_seconds']} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
