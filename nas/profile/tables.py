"""Latency tables for a MobileNetV3 space on a device: profile every distinct part, fit the end-to-end correction,
validate on random subnets, and predict any arch from the table.

The distinct parts of a space are found from a covering set of archs: at every resolution, for every kernel and
expand ratio, the deepest arch using that choice everywhere. That yields each block shape (a stage's first block
and its later blocks differ) at every input size, plus the stem and head per resolution.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.profile.timers import Timer, Timing
from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet, SubnetPart, build_part, subnet_parts
from predictors.latency import LatencyCorrection, LatencyTable
from predictors.metrics import kendall_tau, mape, spearman
from search_spaces import Arch, ConfigError, MobileNetV3Space, SearchSpace

__all__ = [
    "LatencyModel",
    "default_table_path",
    "distinct_parts",
    "measure_subnet",
    "profile_table",
    "random_archs",
    "validate_table",
]


def _mbv3(space: SearchSpace) -> MobileNetV3Space:
    if not isinstance(space, MobileNetV3Space):
        raise ConfigError(
            f"latency profiling supports MobileNetV3 spaces; {space.name!r} is not one", field="space", value=space.name
        )
    return space


def default_table_path(device: str, space: str, batch: int, root: str | Path = "runs/latency") -> Path:
    """``runs/latency/<device>-<space>-b<batch>.json``."""
    return Path(root) / f"{device}-{space}-b{batch}.json"


def distinct_parts(space: SearchSpace, num_classes: int) -> list[SubnetPart]:
    """Every distinct part the space's archs can contain, in a stable order."""
    mbv3 = _mbv3(space)
    seen: dict[str, SubnetPart] = {}
    for resolution in mbv3.resolutions:
        for kernel in mbv3.kernel_sizes:
            for expand in mbv3.expand_ratios:
                values: dict[str, int] = {"resolution": resolution}
                for stage in range(1, len(mbv3.stages) + 1):
                    values[mbv3.depth_label(stage)] = mbv3.max_depth
                    for block in range(1, mbv3.max_depth + 1):
                        values[mbv3.block_label(stage, block, "kernel")] = kernel
                        values[mbv3.block_label(stage, block, "expand")] = expand
                for part in subnet_parts(mbv3, mbv3.validate(values), num_classes):
                    seen.setdefault(part.key, part)
    return list(seen.values())


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
    model = MobileNetV3Subnet(_mbv3(space), arch, num_classes).eval()
    resolution = int(arch["resolution"])
    return timer.time(model, (batch, 3, resolution, resolution))


def _progress(items: list[Any], description: str, enabled: bool) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm import tqdm

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
    if batch < 1:
        raise ConfigError(f"batch={batch} must be >= 1", field="batch", value=batch)
    parts = distinct_parts(space, num_classes)
    table = LatencyTable(space.name, timer.device, batch, num_classes, timer.describe())
    torch.manual_seed(seed)
    for part in _progress(parts, f"profile {len(parts)} parts", progress):
        timing = timer.time(build_part(part), (batch, part.channels, part.size, part.size))
        table.entries[part.key] = timing.to_dict()
    if calibration:
        model = LatencyModel(table, space)
        archs = random_archs(space, calibration, seed)
        measured = [
            measure_subnet(space, a, timer, batch, num_classes).median_ms for a in _progress(archs, "fit", progress)
        ]
        table.machine["calibration_seed"] = seed
        floor = float(model.raw([space.smallest()])[0])
        table.correction = LatencyCorrection.fit(model.raw(archs), measured, raw_floor=floor)
    return table


def validate_table(
    table: LatencyTable, space: SearchSpace, timer: Timer, count: int = 100, seed: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Measure ``count`` random subnets end to end (none used for the correction) and compare with the table.

    Returns MAPE, the share within +/-10%, Kendall tau and Spearman of the corrected prediction, the same for the
    raw sum, and one row per subnet.
    """
    if count < 3:
        raise ConfigError(f"count={count} must be >= 3 to rank subnets", field="count", value=count)
    model = LatencyModel(table, space)
    correction, calibration_seed = table.correction, int(table.machine.get("calibration_seed", 0))
    calibration = random_archs(space, correction.samples, calibration_seed) if correction else []
    archs = random_archs(space, count, seed, exclude=calibration)
    measured = np.array(
        [
            measure_subnet(space, a, timer, table.batch, table.num_classes).median_ms
            for a in _progress(archs, "measure", progress)
        ]
    )
    raw = model.raw(archs)
    predicted = model.predict(archs)
    return {
        "subnets": count,
        "device": table.device,
        "batch": table.batch,
        **_report(measured, predicted, ""),
        **_report(measured, raw, "raw_"),
        "rows": [
            {"arch": a.to_dict(), "measured_ms": float(m), "predicted_ms": float(p), "raw_sum_ms": float(r)}
            for a, m, p, r in zip(archs, measured, predicted, raw)
        ],
    }


def _report(measured: np.ndarray, predicted: np.ndarray, prefix: str) -> dict[str, float]:
    relative = np.abs(predicted - measured) / measured
    return {
        f"{prefix}mape": mape(measured, predicted),
        f"{prefix}within_10pct": float(np.mean(relative <= 0.10)),
        f"{prefix}kendall_tau": kendall_tau(measured, predicted),
        f"{prefix}spearman": spearman(measured, predicted),
    }


class LatencyModel:
    """Predicts archs' latencies from a table, caching each arch's part keys (a search asks for many archs)."""

    def __init__(self, table: LatencyTable, space: SearchSpace):
        if table.space != space.name:
            raise ConfigError(
                f"latency table is for space {table.space!r}, not {space.name!r}",
                field="latency_table",
                value=table.space,
            )
        self.table, self.space = table, _mbv3(space)
        self._keys: dict[Arch, list[str]] = {}

    def keys(self, arch: Arch) -> list[str]:
        cached = self._keys.get(arch)
        if cached is None:
            cached = [part.key for part in subnet_parts(self.space, arch, self.table.num_classes)]
            self._keys[arch] = cached
        return cached

    def raw(self, archs: Iterable[Arch]) -> np.ndarray:
        """Raw table sums (milliseconds) per arch."""
        return np.array([self.table.raw_ms(self.keys(arch)) for arch in archs], dtype=np.float64)

    def predict(self, archs: Iterable[Arch]) -> np.ndarray:
        """Predicted end-to-end milliseconds per arch."""
        raw = self.raw(archs)
        correction = self.table.correction
        return np.asarray(correction.apply(raw) if correction else raw, dtype=np.float64)
