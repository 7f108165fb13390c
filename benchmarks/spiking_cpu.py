"""Record the spiking targets on this CPU.

1. The spiking quickstart (`nas quickstart --spiking`): train spiking_resnet on digits, search accuracy vs energy
   with T <= 4, verify the front on the test set: best test accuracy at T <= 4 (target >= 97.5%), energy and
   SynOps estimates (rate model, validation images) against counts from the actual test spikes (target within
   10%), and one pass at the largest T against one evaluation per T (target >= 2x faster).
2. ANN-to-SNN conversion: train the QCFS twin (qcfs_resnet) the same way, convert its largest subnet and seeded
   random subnets, and compare converted accuracy at the recommended T with the ANN's (target within 2 points).

Every quickstart figure is measured for each seed (0, 1, 2) at each thread count (1 and 2), within 10 minutes a
run; the front, estimate and timing rows come from seed 0 at the most threads.

Run: bash .ci/venv python benchmarks/spiking_cpu.py [--seeds 0 1 2] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record, spread

import nas
from nas.data import load_dataset
from nas.quickstart.spiking import run_spiking_quickstart, spiking_config
from nas.spiking.conversion import evaluate_conversion
from nas.training.trainer import Trainer

CONVERSION_GAP_TARGET = 0.02
TIME_BUDGET_S = 600.0
"""The spiking quickstart's whole run (train, search, verify) on 2 cores."""


def conversion(epochs: int, threads: int, subnets: int, name: str, run: str | None = None) -> dict:
    """Train the QCFS twin (or load ``run``) and convert its largest and ``subnets`` random subnets."""
    if run is None:
        config = spiking_config(epochs)
        config.supernet, config.threads = "qcfs_resnet", threads
        trainer = Trainer.start(config, name, progress=True)
        summary = trainer.fit()
        run_dir, train_seconds = summary.run_dir, round(summary.seconds, 1)
    else:
        run_dir, train_seconds = Path(run), None
    supernet = nas.load_supernet(Path(run_dir) / "supernet.pt").eval()
    data = load_dataset("digits", resolution=16)
    space = supernet.space
    rng = random.Random(0)
    archs = [("largest", space.largest())] + [(f"random_{i + 1}", space.sample(rng)) for i in range(subnets)]
    rows = []
    for label, arch in archs:
        for thresholds in ("learned", "percentile"):
            started = time.perf_counter()
            result = evaluate_conversion(supernet, arch, data, "test", thresholds=thresholds)
            row = {"subnet": label, **result.as_dict(), "seconds": round(time.perf_counter() - started, 1)}
            gap = row["gap_at_recommended"]
            row["within_target"] = gap is not None and gap <= CONVERSION_GAP_TARGET
            rows.append(row)
    return {
        "run_dir": str(run_dir),
        "train_seconds": train_seconds,
        "target_gap": CONVERSION_GAP_TARGET,
        "subnets": rows,
        "all_within_target": all(r["within_target"] for r in rows if r["thresholds"] == "learned"),
    }


def run_summary(report: dict, seed: int, threads: int) -> dict:
    """One spiking quickstart run's figures: the best pick's test accuracy at its T, and the times."""
    best = report["best"]
    return {
        "seed": seed,
        "threads": threads,
        "run_dir": report["run_dir"],
        "best_test_accuracy": best["test_accuracy"],
        "best_timesteps": best["timesteps"],
        "best_val_accuracy": best["val_accuracy"],
        "target_met": report["target_met"],
        "train_seconds": report["train_seconds"],
        "search_seconds": report["search_seconds"],
        "total_seconds": report["total_seconds"],
        "within_time": report["total_seconds"] <= TIME_BUDGET_S,
    }


def measure_quickstart(seed: int, threads: int, name: str, epochs: int | None = None, trials: int = 32) -> dict:
    """One spiking quickstart (train, search, verify) at ``threads`` threads; its full report."""
    torch.set_num_threads(threads)
    options = {} if epochs is None else {"epochs": epochs}
    return run_spiking_quickstart(name, seed=seed, threads=threads, search_trials=trials, progress=False, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help="training epochs (default: the quickstart's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to run each seed at")
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--subnets", type=int, default=3, help="random QCFS subnets to convert")
    parser.add_argument("--tag", default=time.strftime("%Y%m%d-%H%M%S"))
    parser.add_argument("--qcfs-run", help="convert subnets of this finished qcfs_resnet run instead of training one")
    args = parser.parse_args()
    runs, reports = [], {}
    for threads in args.threads:
        for seed in args.seeds:
            name = f"bench-spiking-{args.tag}-s{seed}-t{threads}"
            reports[seed, threads] = measure_quickstart(seed, threads, name, args.epochs, args.trials)
            runs.append(run_summary(reports[seed, threads], seed, threads))
            print(runs[-1], flush=True)
    most = max(args.threads)
    quickstart = reports[min(args.seeds), most]  # the run whose front, energy and timing rows the README shows
    torch.set_num_threads(most)
    epochs = args.epochs or quickstart["epochs"]
    converted = conversion(epochs, most, args.subnets, f"bench-qcfs-{args.tag}", args.qcfs_run)
    timing = quickstart["all_timesteps_one_pass"]
    accuracies = [run["best_test_accuracy"] for run in runs]
    path = record(
        "spiking_cpu",
        {
            "seeds": list(args.seeds),
            "threads": list(args.threads),
            "epochs": epochs,
            "time_budget_seconds": TIME_BUDGET_S,
            "runs": runs,
            "over_runs": {
                "best_test_accuracy": spread(accuracies),
                "total_seconds": spread([run["total_seconds"] for run in runs], worst=max),
            },
            "targets": {
                "accuracy_target_met": all(run["target_met"] for run in runs),
                "time_target_met": all(run["within_time"] for run in runs),
                "max_energy_estimate_error": quickstart["max_energy_error"],
                "max_synops_estimate_error": max(abs(r["synops_error"]) for r in quickstart["front"]),
                "energy_target_met": quickstart["max_energy_error"] <= 0.10,
                "all_t_one_pass_speedup": timing["speedup"],
                "speedup_target_met": timing["speedup"] >= 2.0,
                "conversion_all_within_2_points": converted["all_within_target"],
            },
            "quickstart": quickstart,
            "conversion": converted,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
