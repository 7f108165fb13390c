"""Record the quickstart's figures: accuracy of the largest, smallest and 20 random subnets and the training time.

Either trains anew (as `nas quickstart` does) or, with ``--run runs/NAME``, reads a finished quickstart run: its
training time from ``metrics.csv`` and its evaluations from the run's cache (recomputed if missing).

Run: bash .ci/venv python benchmarks/quickstart.py [--run runs/quickstart-...]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import nas
from nas.core.config import parse_config
from nas.data import load_dataset
from nas.quickstart.digits import measure_subnets, run_quickstart
from nas.training.config import TrainConfig

TRAIN_BUDGET_S = 600.0


def from_run(run_dir: Path) -> dict:
    config = parse_config(TrainConfig, yaml.safe_load((run_dir / "config.yaml").read_text()))
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    data = load_dataset(config.data.name, config.data.root, config.data.resolution, config.data.seed)
    supernet = nas.load_supernet(run_dir / "supernet.pt")
    subnets = measure_subnets(supernet, data, run_dir / "supernet.pt", 20, config.seed, config.calibration_images)
    return {
        "run_dir": str(run_dir),
        "train_seconds": round(sum(float(r["seconds"]) for r in rows), 1),
        "epochs": len(rows),
        "subnets": subnets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished quickstart run folder to read instead of training")
    args = parser.parse_args()
    torch.set_num_threads(2)
    report = from_run(args.run) if args.run else run_quickstart("bench-quickstart", threads=2)
    accuracies = [row["test_accuracy"] for row in report["subnets"]]
    result = {
        "data": "digits (1,257 train / 180 val / 360 test)",
        "supernet": "ofa_mbv3_small",
        "train_seconds": report["train_seconds"],
        "train_budget_seconds": TRAIN_BUDGET_S,
        "largest_test_accuracy": accuracies[0],
        "smallest_test_accuracy": accuracies[1],
        "random_test_accuracy_min": min(accuracies[2:]),
        "random_test_accuracy_max": max(accuracies[2:]),
        "all_targets_met": all(row["met"] for row in report["subnets"]),
        "within_budget": report["train_seconds"] <= TRAIN_BUDGET_S,
        "subnets": [
            {k: row[k] for k in ("subnet", "resolution", "macs", "test_accuracy", "met")} for row in report["subnets"]
        ],
    }
    path = record("quickstart", result)
    print(
        f"largest {accuracies[0]:.4f}, smallest {accuracies[1]:.4f}, random {min(accuracies[2:]):.4f}.."
        f"{max(accuracies[2:]):.4f}; trained in {report['train_seconds']} s -> {path}"
    )


if __name__ == "__main__":
    main()
