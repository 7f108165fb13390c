"""Transfer by fine-tuning: ofa_mbv3_small trained on digits 0-4, then fine-tuned on digits 5-9 for E epochs
(``--init-from``: every weight but the classifier), against the same recipe from random initialisation for the
same E epochs.

Both arms use the quickstart recipe (sandwich rule, in-place distillation, one random subnet per step) with the
same training seed and data order, repeated for each of --seeds (0, 1, 2: mean, standard deviation and worst).
Each is scored on the 5-9 test split for the largest, the smallest and 20 random subnets (the same 22 for both),
each after BN recalibration on the 5-9 training images in batches of 200. About 20 minutes on 2 cores (torch
threads: --threads, recorded; on a busy machine 1 thread avoids oversubscription).

Run: bash .ci/venv python benchmarks/finetune_transfer.py [--epochs 3] [--pretrain-epochs 5] [--seeds 0 1 2]
     [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

from nas.core.config import parse_config
from nas.data import load_dataset
from nas.supernet import load_supernet
from nas.training.config import TrainConfig
from nas.training.evaluation import evaluate
from nas.training.trainer import Trainer

SPACE = "ofa_mbv3_small"
RESOLUTION = 32
PRETRAIN_CLASSES = ["0", "1", "2", "3", "4"]
FINETUNE_CLASSES = ["5", "6", "7", "8", "9"]
PRETRAIN_SEED, SUBNET_SEED, DATA_SEED = 0, 2, 0
RANDOM_SUBNETS = 20
CALIBRATION_IMAGES, CALIBRATION_BATCH = 2000, 200  # once-for-all's; the 5-9 train split has fewer, so all of it


def config(classes: list[str], epochs: int, seed: int, threads: int, init_from: str | None = None) -> TrainConfig:
    """The quickstart recipe on ``classes`` of digits."""
    return parse_config(
        TrainConfig,
        {
            "supernet": SPACE,
            "data": {"name": "digits", "resolution": RESOLUTION, "seed": DATA_SEED, "classes": classes},
            "phases": [{"epochs": epochs, "random_subnets": 1}],
            "seed": seed,
            "threads": threads,
            "device": "cpu",
            "init_from": init_from,
        },
    )


def train(train_config: TrainConfig, name: str, root: Path) -> tuple[Path, float]:
    """Train one run; returns its supernet file and seconds."""
    summary = Trainer.start(train_config, name, root=root, progress=False).fit()
    return summary.supernet_path, summary.seconds


def scores(supernet_path: Path, archs: list, classes: list[str]) -> list[float]:
    """Test accuracy of each arch on ``classes`` after BN recalibration."""
    supernet = load_supernet(supernet_path).eval()
    data = load_dataset("digits", resolution=RESOLUTION, seed=DATA_SEED, classes=classes)
    return [
        evaluate(supernet, arch, data, "test", CALIBRATION_IMAGES, calibration_batch=CALIBRATION_BATCH).accuracy
        for arch in archs
    ]


def summary(accuracies: list[float]) -> dict[str, float]:
    """Largest, smallest and the random subnets' mean/min/max."""
    rest = accuracies[2:]
    return {
        "largest": round(accuracies[0], 4),
        "smallest": round(accuracies[1], 4),
        "random_mean": round(statistics.mean(rest), 4),
        "random_min": round(min(rest), 4),
        "random_max": round(max(rest), 4),
        "all_mean": round(statistics.mean(accuracies), 4),
    }


def compare(source: Path, archs: list, epochs: int, seed: int, threads: int, root: Path) -> dict:
    """Fine-tuned from ``source`` and from scratch, both with training seed ``seed``, scored on the same archs."""
    finetuned, finetune_s = train(config(FINETUNE_CLASSES, epochs, seed, threads, str(source)), f"ft-{seed}", root)
    from_scratch, scratch_s = train(config(FINETUNE_CLASSES, epochs, seed, threads), f"scratch-{seed}", root)
    finetuned_acc = scores(finetuned, archs, FINETUNE_CLASSES)
    scratch_acc = scores(from_scratch, archs, FINETUNE_CLASSES)
    return {
        "seed": seed,
        "finetuned": {**summary(finetuned_acc), "seconds": round(finetune_s, 1)},
        "from_scratch": {**summary(scratch_acc), "seconds": round(scratch_s, 1)},
        "mean_gain": round(statistics.mean(finetuned_acc) - statistics.mean(scratch_acc), 4),
        "subnets_better_finetuned": sum(f > s for f, s in zip(finetuned_acc, scratch_acc)),
        "subnets_tied": sum(f == s for f, s in zip(finetuned_acc, scratch_acc)),
        "per_subnet": [
            {"arch": arch.key, "finetuned": round(f, 4), "from_scratch": round(s, 4)}
            for arch, f, s in zip(archs, finetuned_acc, scratch_acc)
        ],
    }


def over_seeds(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation and worst (lowest) of one figure over the seeds."""
    return {
        "mean": round(statistics.mean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "worst": round(min(values), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs E (both arms)")
    parser.add_argument("--pretrain-epochs", type=int, default=5, help="epochs on digits 0-4")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of both arms")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pretrain = config(PRETRAIN_CLASSES, args.pretrain_epochs, PRETRAIN_SEED, args.threads)
        source, pretrain_s = train(pretrain, "pretrain", root)
        space = load_supernet(source).space
        rng = random.Random(SUBNET_SEED)
        archs = [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(RANDOM_SUBNETS))]
        pretrain_acc = scores(source, archs[:2], PRETRAIN_CLASSES)
        runs = [compare(source, archs, args.epochs, seed, args.threads, root) for seed in args.seeds]
    result = {
        "space": SPACE,
        "resolution": RESOLUTION,
        "threads": args.threads,
        "seeds": {"pretrain": PRETRAIN_SEED, "training": args.seeds, "subnets": SUBNET_SEED, "data": DATA_SEED},
        "recipe": "sandwich rule, in-place distillation, 1 random subnet per step, batch 32, lr 0.1 (quickstart)",
        "pretrain": {"classes": "0-4", "epochs": args.pretrain_epochs, "seconds": round(pretrain_s, 1)},
        "pretrain_test_accuracy": {"largest": round(pretrain_acc[0], 4), "smallest": round(pretrain_acc[1], 4)},
        "finetune_epochs": args.epochs,
        "calibration": {"images": CALIBRATION_IMAGES, "batch": CALIBRATION_BATCH, "split": "train of 5-9"},
        "subnets": {"largest": 1, "smallest": 1, "random": RANDOM_SUBNETS},
        "finetuned_all_mean": over_seeds([run["finetuned"]["all_mean"] for run in runs]),
        "from_scratch_all_mean": over_seeds([run["from_scratch"]["all_mean"] for run in runs]),
        "mean_gain": over_seeds([run["mean_gain"] for run in runs]),
        "subnets_better_finetuned": [run["subnets_better_finetuned"] for run in runs],
        "per_seed": runs,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    path = record("finetune_transfer", result)
    tuned, scratch = result["finetuned_all_mean"], result["from_scratch_all_mean"]
    print(
        f"over seeds {args.seeds}: fine-tuned mean {tuned['mean']:.4f} (worst {tuned['worst']:.4f}) vs from scratch "
        f"{scratch['mean']:.4f} (worst {scratch['worst']:.4f}); gain {result['mean_gain']}; {path}"
    )


if __name__ == "__main__":
    main()
