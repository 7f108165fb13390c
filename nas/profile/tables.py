"""Latency tables of a space on a device: time every distinct part its family's subnets can contain (interleaved
rounds, out-of-line parts measured again, all at the machine speed of a reference module timed between them), then
fit the latency model on whole subnets measured the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from nas.profile.measurement import Measured, measure_in_rounds, measure_robustly
from nas.profile.reference import Reference
from nas.profile.timers import Runner, Timer
from nas.supernet.latency import LatencyModel
from nas.supernet.latency_transfer import random_archs
from nas.supernet.parts import PartModel, SubnetPart
from nas.supernet.registry import part_model
from predictors.cost import count_macs, count_ops
from predictors.latency import LatencyTable
from predictors.latency_fit import LatencyFit
from search_spaces import Arch, SearchSpace
from search_spaces.checks import check_at_least

__all__ = [
    "default_table_path",
    "measure_subnets",
    "profile_table",
    "random_archs",
    "space_reference",
    "table_reference",
]


def default_table_path(device: str, space: str, batch: int, root: str | Path = "runs/latency") -> Path:
    """``runs/latency/<device>-<space>-b<batch>.json``."""
    return Path(root) / f"{device}-{space}-b{batch}.json"


def measure_subnets(
    space: SearchSpace,
    archs: Sequence[Arch],
    timer: Timer,
    batch: int,
    num_classes: int,
    seed: int = 0,
    progress: bool = False,
    description: str = "measure subnets",
    reference: Reference | None = None,
    reference_ms: float | None = None,
) -> Measured:
    """End-to-end latencies of archs' static subnets (random weights: latency does not depend on their values),
    measured in rounds interleaved across them, keyed by position; with a ``reference``, also at the machine speed
    of ``reference_ms`` (see :func:`~nas.profile.measurement.measure_in_rounds`)."""
    parts = part_model(space, num_classes)

    def runner(arch: Arch) -> Callable[[], Runner]:
        return lambda: timer.runner(parts.subnet(arch), _image_shape(arch, batch))

    torch.manual_seed(0)
    return measure_in_rounds(
        timer,
        {i: runner(a) for i, a in enumerate(archs)},
        None,
        seed,
        progress,
        description,
        reference=reference,
        reference_ms=reference_ms,
    )


def space_reference(space: SearchSpace, timer: Timer, batch: int, num_classes: int) -> Reference:
    """The reference module of ``space``'s tables: its smallest subnet."""
    smallest = space.smallest()
    torch.manual_seed(0)
    return Reference(timer, part_model(space, num_classes).subnet(smallest), _image_shape(smallest, batch))


def table_reference(table: LatencyTable, space: SearchSpace, timer: Timer) -> Reference | None:
    """A reference on ``timer`` to measure at ``table``'s machine speed, when the table was profiled with one on
    the same device (else None: measurements are taken as they come)."""
    if table.reference_ms is None or table.device != timer.device:
        return None
    return space_reference(space, timer, table.batch, table.num_classes)


def _image_shape(arch: Arch, batch: int) -> tuple[int, int, int, int]:
    resolution = int(arch["resolution"])
    return (batch, 3, resolution, resolution)


def profile_table(
    space: SearchSpace,
    timer: Timer,
    batch: int = 1,
    num_classes: int = 1000,
    calibration: int = 40,
    seed: int = 0,
    progress: bool = True,
    retries: int = 2,
) -> LatencyTable:
    """Time every distinct part of ``space`` in interleaved rounds, re-measure the parts out of line, then fit the
    latency model on ``calibration`` subnets measured end to end."""
    check_at_least(batch=(batch, 1))
    parts = part_model(space, num_classes)
    distinct = {part.key: part for part in parts.distinct_parts()}
    table = LatencyTable(space.name, timer.device, batch, num_classes, timer.describe())
    static = {key: _static_figures(parts, part, batch) for key, part in distinct.items()}

    def runner(part: SubnetPart) -> Callable[[], Runner]:
        return lambda: timer.runner(parts.build(part), part.input_shape(batch))

    torch.manual_seed(seed)
    reference = space_reference(space, timer, batch, num_classes)
    measured, remeasured = measure_robustly(
        timer,
        {key: runner(part) for key, part in distinct.items()},
        kinds={key: part.kind for key, part in distinct.items()},
        macs={key: figures["macs"] for key, figures in static.items()},
        seed=seed,
        retries=retries,
        progress=progress,
        description=f"profile {len(distinct)} parts",
        reference=reference,
    )
    for key in distinct:
        entry: dict[str, Any] = {**measured.timings[key].to_dict(), **static[key]}
        if key in remeasured:
            entry["remeasured"] = remeasured[key]["times"]
        table.entries[key] = entry
    table.machine["remeasured"] = {str(key): found for key, found in remeasured.items()}
    table.machine["reference"] = {
        "ms": measured.reference_ms,
        "arch": "smallest",
        "speed_range": [round(min(reference.ticks) / measured.reference_ms, 3),
                        round(max(reference.ticks) / measured.reference_ms, 3)],
    }  # fmt: skip
    if calibration:
        model = LatencyModel(table, space)
        archs = random_archs(space, calibration, seed)
        subnets = measure_subnets(
            space, archs, timer, batch, num_classes, seed, progress, "fit the latency model", reference,
            measured.reference_ms,
        )  # fmt: skip
        table.machine["calibration_seed"] = seed
        table.machine["calibration_ms"] = [round(subnets.timings[i].median_ms, 5) for i in range(len(archs))]
        table.model = LatencyFit.fit(
            model.features(archs), [subnets.timings[i].median_ms for i in range(len(archs))],
            floor=model.features([space.smallest()]),
        )  # fmt: skip
    return table


def _static_figures(parts: PartModel, part: SubnetPart, batch: int) -> dict[str, int]:
    """What a part computes, counted on the meta device: MACs, aten operations and their output elements."""
    module = parts.build(part, "meta")
    counts = count_ops(module, part.input_shape(batch))
    return {
        "macs": count_macs(module, part.size, batch, part.channels),
        "ops": counts.ops,
        "activations": counts.activations,
    }
