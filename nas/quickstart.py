"""The quickstart: train a supernet on the embedded digits data, then measure subnets after BN recalibration."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from nas.data import DataSplits
from nas.training.config import quickstart_config
from nas.training.evaluation import EvalCache, evaluate, file_digest
from nas.training.trainer import Trainer

__all__ = ["QuickstartTargets", "measure_subnets", "run_quickstart"]


@dataclass(frozen=True)
class QuickstartTargets:
    """The accuracies the quickstart promises (test split, after BN recalibration)."""

    largest: float = 0.985
    smallest: float = 0.975
    random: float = 0.975


def measure_subnets(
    supernet: nn.Module,
    data: DataSplits,
    supernet_path: Path,
    random_subnets: int = 20,
    seed: int = 0,
    calibration_images: int = 512,
) -> list[dict[str, Any]]:
    """Test accuracy of the largest, the smallest and ``random_subnets`` seeded random subnets, against the
    quickstart targets; evaluations are cached beside the supernet file."""
    cache = EvalCache(supernet_path.parent / "eval_cache.jsonl", file_digest(supernet_path), data.name)
    space = supernet.space
    rng = random.Random(seed)
    archs = [("largest", space.largest()), ("smallest", space.smallest())]
    archs += [(f"random_{i + 1}", space.sample(rng)) for i in range(random_subnets)]
    targets = QuickstartTargets()
    rows = []
    for label, arch in archs:
        result = evaluate(supernet.eval(), arch, data, "test", calibration_images, cache=cache)
        target = getattr(targets, label if label in ("largest", "smallest") else "random")
        rows.append(
            {
                "subnet": label,
                "test_accuracy": result.accuracy,
                "test_loss": result.loss,
                "target": target,
                "met": result.accuracy >= target,
                "macs": supernet.macs(arch),
                "resolution": int(arch["resolution"]),
                "arch": arch.to_dict(),
            }
        )
    return rows


def run_quickstart(
    name: str,
    epochs: int = 15,
    random_subnets: int = 20,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    limit_train: int = 0,
) -> dict[str, Any]:
    """Train, evaluate the largest, smallest and ``random_subnets`` random subnets; return a JSON-able report."""
    started = time.perf_counter()
    config = quickstart_config(epochs)
    config.seed = seed
    config.threads = threads
    config.data.limit_train = limit_train
    trainer = Trainer.start(config, name, progress=progress)
    summary = trainer.fit()
    rows = measure_subnets(
        trainer.supernet, trainer.data, summary.supernet_path, random_subnets, seed, config.calibration_images
    )
    return {
        "run_dir": str(summary.run_dir),
        "supernet": str(summary.supernet_path),
        "train_seconds": round(summary.seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "epochs": epochs,
        "test_images": len(trainer.data.test),
        "subnets": rows,
        "all_targets_met": all(row["met"] for row in rows),
    }
