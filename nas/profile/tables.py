"""Latency tables of a space on a device: time every distinct part its family's subnets can contain, then fit the
end-to-end correction on whole subnets measured the same way."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from nas.profile.timers import Timer, Timing
from nas.supernet.latency import LatencyModel
from nas.supernet.registry import part_model
from predictors.latency import LatencyCorrection, LatencyTable
from search_spaces import Arch, SearchSpace
from search_spaces.checks import check_at_least

__all__ = ["default_table_path", "measure_subnet", "profile_table", "progress_bar", "random_archs"]


def default_table_path(device: str, space: str, batch: int, root: str | Path = "runs/latency") -> Path:
    """``runs/latency/<device>-<space>-b<batch>.json``."""
    return Path(root) / f"{device}-{space}-b{batch}.json"


def random_archs(space: SearchSpace, count: int, seed: int, exclude: Iterable[Arch] = ()) -> list[Arch]:
    """``count`` distinct random archs, none of them in ``exclude``."""
    rng = random.Random(seed)
    taken = set(exclude)
    archs: list[Arch] = []
    while len(archs) < count:
        arch = space.sample(rng)
        if arch not in taken:
            taken.add(arch)
            archs.append(arch)
    return archs


def measure_subnet(space: SearchSpace, arch: Arch, timer: Timer, batch: int, num_classes: int) -> Timing:
    """End-to-end latency of ``arch``'s static subnet (random weights: latency does not depend on their values)."""
    torch.manual_seed(0)
    model = part_model(space, num_classes).subnet(arch)
    resolution = int(arch["resolution"])
    return timer.time(model, (batch, 3, resolution, resolution))


def progress_bar(items: list[Any], description: str, enabled: bool) -> Iterable[Any]:
    """``items``, behind a progress bar on stderr when ``enabled``."""
    if not enabled:
        return items
    return tqdm(items, desc=description, unit="part" if "part" in description else "arch")


def profile_table(
    space: SearchSpace,
    timer: Timer,
    batch: int = 1,
    num_classes: int = 1000,
    calibration: int = 40,
    seed: int = 0,
    progress: bool = True,
) -> LatencyTable:
    """Time every distinct part of ``space``, then fit the correction on ``calibration`` end-to-end measurements."""
    check_at_least(batch=(batch, 1))
    model_parts = part_model(space, num_classes)
    parts = model_parts.distinct_parts()
    table = LatencyTable(space.name, timer.device, batch, num_classes, timer.describe())
    torch.manual_seed(seed)
    for part in progress_bar(parts, f"profile {len(parts)} parts", progress):
        timing = timer.time(model_parts.build(part), part.input_shape(batch))
        table.entries[part.key] = timing.to_dict()
    if calibration:
        model = LatencyModel(table, space)
        archs = random_archs(space, calibration, seed)
        measured = [
            measure_subnet(space, a, timer, batch, num_classes).median_ms for a in progress_bar(archs, "fit", progress)
        ]
        table.machine["calibration_seed"] = seed
        floor = float(model.raw([space.smallest()])[0])
        table.correction = LatencyCorrection.fit(model.raw(archs), measured, raw_floor=floor)
    return table
