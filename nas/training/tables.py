"""Accuracy tables built on a supernet: sampled subnets evaluated after BN recalibration, one row each (arch
labels, MACs, parameters, accuracy and loss per split), for predictors to fit on (``search_spaces.table``
reads and writes them)."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
from tqdm import tqdm

from nas.data import DataSplits
from nas.supernet.base import Supernet
from nas.training.evaluation import EvalCache, evaluate_splits
from search_spaces import Arch

__all__ = ["build_accuracy_table"]


def build_accuracy_table(
    supernet: Supernet,
    data: DataSplits,
    count: int,
    seed: int = 0,
    splits: tuple[str, ...] = ("val", "test"),
    calibration_images: int = 512,
    cache: EvalCache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Sample ``count`` distinct subnets, evaluate each on ``splits`` after BN recalibration, one row per subnet:
    arch labels, ``macs``, ``params``, ``<split>_accuracy`` and ``<split>_loss``."""
    space = supernet.space
    rng = random.Random(seed)
    archs: list[Arch] = []
    seen: set[Arch] = set()
    while len(archs) < count:
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
    iterator: Any = archs
    if progress:
        iterator = tqdm(archs, desc="evaluate subnets", unit="arch")
    rows = []
    for arch in iterator:
        row: dict[str, Any] = {**arch.to_dict(), "macs": supernet.macs(arch), "params": supernet.params(arch)}
        for split, result in evaluate_splits(supernet, arch, data, splits, calibration_images, cache=cache).items():
            row[f"{split}_accuracy"] = result.accuracy
            row[f"{split}_loss"] = result.loss
        rows.append(row)
    return pd.DataFrame(rows)
