"""Record the spiking targets on this CPU.

1. The spiking quickstart (`nas quickstart --spiking`): train spiking_resnet on digits, search accuracy vs energy
   with T <= 4, verify the front on the test set: best test accuracy at T <= 4 (target >= 97.5%), energy and
   SynOps estimates (rate model, validation images) against counts from the actual test spikes (target within
   10%), and one pass at the largest T against one evaluation per T (target >= 2x faster).
2. ANN-to-SNN conversion: train the QCFS twin (qcfs_resnet) the same way, convert its largest subnet and seeded
   random subnets, and compare converted accuracy at the recommended T with the ANN's (target within 2 points).

Run: bash .ci/venv python benchmarks/spiking_cpu.py [--epochs 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import nas
from nas.data import load_dataset
from nas.quickstart.spiking import run_spiking_quickstart, spiking_config, verify_spiking_run
from nas.spiking.conversion import evaluate_conversion
from nas.training.trainer import Trainer

CONVERSION_GAP_TARGET = 0.02


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--subnets", type=int, default=3, help="random QCFS subnets to convert")
    parser.add_argument("--tag", default=time.strftime("%Y%m%d-%H%M%S"))
    parser.add_argument("--run", help="verify this finished spiking run (trained and searched) instead of a new one")
    parser.add_argument("--qcfs-run", help="convert subnets of this finished qcfs_resnet run instead of training one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.run:
        quickstart = verify_spiking_run(args.run)
    else:
        quickstart = run_spiking_quickstart(
            f"bench-spiking-{args.tag}", epochs=args.epochs, threads=args.threads, search_trials=args.trials
        )
    converted = conversion(args.epochs, args.threads, args.subnets, f"bench-qcfs-{args.tag}", args.qcfs_run)
    timing = quickstart["all_timesteps_one_pass"]
    path = record(
        "spiking_cpu",
        {
            "targets": {
                "best_test_accuracy_at_t_le_4": quickstart["best"]["test_accuracy"],
                "best_timesteps": quickstart["best"]["timesteps"],
                "accuracy_target_met": quickstart["target_met"],
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
