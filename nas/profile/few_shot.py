"""A new device's latency model from K end-to-end measurements and other devices' tables (``nas profile --few-shot
K --sources TABLE...``), and its validation against fresh measurements beside the noise floor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.profile.tables import measure_subnets, random_archs
from nas.profile.timers import Timer
from nas.profile.validation import agreement
from nas.supernet.latency_transfer import TransferFile, TransferLatencyModel
from predictors.latency import LatencyTable
from search_spaces import SearchSpace
from search_spaces.checks import check_at_least

__all__ = ["profile_few_shot", "validate_transfer"]


def profile_few_shot(
    space: SearchSpace,
    timer: Timer,
    batch: int,
    num_classes: int,
    shots: int,
    sources: Sequence[str],
    seed: int = 0,
    progress: bool = False,
) -> TransferFile:
    """Measure ``shots`` random subnets of ``space`` end to end with ``timer``; the transfer file (checked by
    fitting its model once) that predicts the rest from the ``sources`` tables."""
    check_at_least(shots=(shots, 2))
    tables = [LatencyTable.load(path, space.name) for path in sources]
    archs = random_archs(space, shots, seed)
    measured = measure_subnets(space, archs, timer, batch, num_classes, seed, progress, "few-shot subnets")
    result = TransferFile(
        space=space.name,
        device=timer.device,
        batch=batch,
        num_classes=num_classes,
        machine=timer.describe(),
        sources=[str(path) for path in sources],
        archs=[arch.to_dict() for arch in archs],
        measured_ms=[round(measured.timings[i].median_ms, 5) for i in range(shots)],
        seed=seed,
    )
    TransferLatencyModel(result, space, tables)
    return result


def validate_transfer(
    measured: TransferFile, space: SearchSpace, timer: Timer, count: int, seed: int = 1, progress: bool = False
) -> dict[str, Any]:
    """Measure ``count`` fresh subnets in two rounds; MAPE, share within 10 %, Kendall and Spearman of the transfer's
    prediction against their mean and of round 2 against round 1 (``floor_*``), with the ratios; also recorded in
    ``measured.validation``."""
    check_at_least(count=(count, 3))
    model = TransferLatencyModel(measured, space)
    seen = [space.validate(labels) for labels in measured.archs]
    archs = random_archs(space, count, seed, exclude=seen)
    rounds = [
        measure_subnets(
            space, archs, timer, measured.batch, measured.num_classes, seed + 1000 * r, progress, f"round {r + 1}"
        )
        for r in range(2)
    ]
    first, second = (np.array([r.timings[i].median_ms for i in range(count)]) for r in rounds)
    report: dict[str, Any] = {
        "subnets": count,
        "shots": len(measured.archs),
        **agreement((first + second) / 2, model.predict(archs), ""),
        **agreement(first, second, "floor_"),
    }
    report["mape_over_floor"] = report["mape"] / report["floor_mape"] if report["floor_mape"] > 0 else float("inf")
    report["spearman_over_floor"] = report["spearman"] / report["floor_spearman"] if report["floor_spearman"] else 0.0
    measured.validation = report
    return report
