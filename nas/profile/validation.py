"""Validating a latency table against the noise floor: subnets none of which the fit saw, measured end to end in two
separate rounds. How far the two rounds disagree is the noise floor of this machine (nothing predicts better than the
machine repeats itself); the table's error is measured against the mean of the rounds and reported beside it, with
the raw per-part sum's error for comparison.

Both rounds are taken at the table's machine speed (the space's smallest subnet timed between the others as a reference,
see :mod:`nas.profile.reference`): a machine that runs everything 20 % slower this minute than when the table was
profiled does not make the table wrong. The figures as measured, without that scaling, and the machine's speed in each
round are reported too."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from nas.profile.tables import measure_subnets, random_archs, table_reference
from nas.profile.timers import Timer, Timing
from nas.supernet.latency import LatencyModel
from predictors.latency import LatencyTable
from predictors.metrics import kendall_tau, mape, spearman
from search_spaces import SearchSpace
from search_spaces.checks import check_at_least

__all__ = ["TARGETS", "agreement", "meets_targets", "validate_table", "validation_text"]

TARGETS = {"mape_over_floor": 1.5, "spearman_over_floor": 0.9}
"""A trustworthy table: MAPE at most 1.5x the floor's (and no worse than the raw sum), Spearman at least 0.9x."""


def validate_table(
    table: LatencyTable, space: SearchSpace, timer: Timer, count: int = 100, seed: int = 1, progress: bool = True
) -> dict[str, Any]:
    """Measure ``count`` random subnets (none used for the fit) end to end in two rounds and compare.

    Returns MAPE, the share within +/-10%, Kendall tau and Spearman of the table's prediction (``*``), of the raw
    per-part sum (``raw_*``) and of round 2 against round 1 (``floor_*``, the noise floor), all at the table's
    machine speed; the table's and the floor's figures as measured (``as_measured_*``) and the machine's speed in
    each round; the ratios to the floor, whether the targets are met, and one row per subnet. The report without
    its rows is also recorded in ``table.validation`` (save the table to keep it).
    """
    check_at_least(count=(count, 3))
    model = LatencyModel(table, space)
    fitted = table.model.samples if table.model else 0
    calibration = random_archs(space, fitted, int(table.machine.get("calibration_seed", 0))) if fitted else []
    archs = random_archs(space, count, seed, exclude=calibration)
    reference = table_reference(table, space, timer)
    rounds = [
        measure_subnets(
            space, archs, timer, table.batch, table.num_classes, seed + 1000 * r, progress, f"round {r + 1}",
            reference, table.reference_ms,
        )
        for r in range(2)
    ]  # fmt: skip
    scaled = [_medians(r.timings, count) for r in rounds]
    as_measured = [_medians(r.as_measured, count) for r in rounds]
    measured = (scaled[0] + scaled[1]) / 2
    predicted, raw = model.predict(archs), model.raw(archs)
    report: dict[str, Any] = {
        "subnets": count,
        "device": table.device,
        "batch": table.batch,
        "at_table_speed": reference is not None,
        "speed": [round(r.speed, 4) for r in rounds],
        **agreement(measured, predicted, ""),
        **agreement(measured, raw, "raw_"),
        **agreement(scaled[0], scaled[1], "floor_"),
        **agreement((as_measured[0] + as_measured[1]) / 2, predicted, "as_measured_"),
        **agreement(as_measured[0], as_measured[1], "as_measured_floor_"),
    }
    report["mape_over_floor"] = report["mape"] / report["floor_mape"] if report["floor_mape"] > 0 else float("inf")
    report["spearman_over_floor"] = report["spearman"] / report["floor_spearman"] if report["floor_spearman"] else 0.0
    report["meets_targets"] = meets_targets(report)
    report["rows"] = [
        {"arch": a.to_dict(), "measured_ms": float(m), "round_1_ms": float(r1), "round_2_ms": float(r2),
         "as_measured_ms": float(u), "predicted_ms": float(p), "raw_sum_ms": float(s)}
        for a, m, r1, r2, u, p, s in zip(
            archs, measured, scaled[0], scaled[1], (as_measured[0] + as_measured[1]) / 2, predicted, raw
        )
    ]  # fmt: skip
    table.validation = {key: value for key, value in report.items() if key != "rows"}
    return report


def _medians(timings: Mapping[Hashable, Timing], count: int) -> np.ndarray:
    return np.array([timings[i].median_ms for i in range(count)])


def meets_targets(report: dict[str, Any]) -> bool:
    """Whether a validation report meets :data:`TARGETS` and is no worse than the raw sum."""
    return (
        report["mape_over_floor"] <= TARGETS["mape_over_floor"]
        and report["mape"] <= report["raw_mape"]
        and report["spearman_over_floor"] >= TARGETS["spearman_over_floor"]
    )


def validation_text(report: dict[str, Any]) -> str:
    """The table's error beside the raw sum's and the noise floor's, the ratios, and whether the targets hold."""
    lines = [f"{'':34}{'MAPE':>8}{'within 10%':>12}{'Spearman':>10}{'Kendall':>9}"]
    rows = [("table", ""), ("raw per-part sum", "raw_"), ("noise floor (round 2 vs 1)", "floor_")]
    if report.get("at_table_speed"):
        rows += [("table, as measured", "as_measured_"), ("noise floor, as measured", "as_measured_floor_")]
    for label, prefix in rows:
        lines.append(
            f"{label:34}{100 * report[prefix + 'mape']:7.1f}%{100 * report[prefix + 'within_10pct']:11.0f}%"
            f"{report[prefix + 'spearman']:10.3f}{report[prefix + 'kendall_tau']:9.3f}"
        )
    if report.get("at_table_speed"):
        speeds = " and ".join(f"{speed:.2f}x" for speed in report["speed"])
        lines.append(
            f"machine speed: the reference subnet took {speeds} its time during profiling in the two rounds; "
            "the first rows are at the profiling speed"
        )
    verdict = "met" if report["meets_targets"] else "NOT MET"
    lines.append(
        f"table / floor: MAPE {report['mape_over_floor']:.2f}x, Spearman {report['spearman_over_floor']:.2f}x "
        f"({report['subnets']} subnets; targets: MAPE <= {TARGETS['mape_over_floor']}x the floor's and <= the raw "
        f"sum's, Spearman >= {TARGETS['spearman_over_floor']}x the floor's): {verdict}"
    )
    return "\n".join(lines)


def agreement(measured: np.ndarray, predicted: np.ndarray, prefix: str = "") -> dict[str, float]:
    """MAPE, the share within +/-10 %, Kendall tau and Spearman of ``predicted`` against ``measured``."""
    relative = np.abs(predicted - measured) / measured
    return {
        f"{prefix}mape": mape(measured, predicted),
        f"{prefix}within_10pct": float(np.mean(relative <= 0.10)),
        f"{prefix}kendall_tau": kendall_tau(measured, predicted),
        f"{prefix}spearman": spearman(measured, predicted),
    }
