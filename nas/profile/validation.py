"""Validating a latency table: whole subnets none of which the correction saw, measured end to end and compared
with the table's prediction and with the raw per-part sum."""

from __future__ import annotations

from typing import Any

import numpy as np

from nas.profile.tables import measure_subnet, progress_bar, random_archs
from nas.profile.timers import Timer
from nas.supernet.latency import LatencyModel
from predictors.latency import LatencyTable
from predictors.metrics import kendall_tau, mape, spearman
from search_spaces import ConfigError, SearchSpace

__all__ = ["validate_table"]


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
            for a in progress_bar(archs, "measure", progress)
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
