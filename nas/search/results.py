"""A search's results on disk: every trial, the feasible Pareto front (Parquet and CSV), the hypervolume at a
fixed, recorded reference point, and PNG plots; and reading them back for ``nas report``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from nas.search.objectives import Budget, device_of
from nas.search.pareto import hypervolume, hypervolume_curve, pareto_mask
from nas.search.plots import plot_front, plot_hypervolume
from search_spaces import DataError, safe_json
from search_spaces.atomic import atomic_write_json
from search_spaces.table import write_table

__all__ = ["read_front", "read_report", "trials_frame", "write_results"]


def trials_frame(study: optuna.Study, objectives: Sequence[str], budgets: Sequence[Budget]) -> pd.DataFrame:
    """One row per finished trial: number, state, feasibility, arch labels, metrics and budget violations."""
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        metrics = trial.user_attrs.get("metrics", {})
        own = trial.user_attrs.get("violations", {})  # per-device searches: each budget's, beside the folded one
        constraints = [trial.constraints.get(b.metric, own.get(b.metric, 0.0)) for b in budgets]
        others = {name: value for name, value in trial.constraints.items() if name not in {b.metric for b in budgets}}
        row: dict[str, Any] = {
            "trial": trial.number,
            "state": trial.state.name.lower(),
            "evaluated": bool(trial.user_attrs.get("evaluated", False)),
            "worker": trial.user_attrs.get("worker", -1),
            "feasible": trial.state == TrialState.COMPLETE and all(c <= 0 for c in trial.constraints.values()),
        }
        row.update({name: metrics.get(name) for name in objectives})
        row.update({k: v for k, v in metrics.items() if k not in objectives})
        row.update({f"violation_{b.metric}": c for b, c in zip(budgets, constraints)})
        row.update({f"violation_{name}": value for name, value in others.items()})  # e.g. the predictor's domain
        row.update(trial.user_attrs.get("arch", {}))
        rows.append(row)
    return pd.DataFrame(rows)


def write_results(
    run_dir: Path,
    study: optuna.Study,
    objectives: Sequence[str],
    directions: Sequence[str],
    reference: Sequence[float],
    budgets: Sequence[Budget],
    per_device: bool = False,
) -> dict[str, Any]:
    """Write trials, front, summary and plots into ``run_dir``; return the summary. ``per_device`` adds one front
    per ``latency@NAME`` objective (``front@NAME.csv``/``.parquet``/``.png`` and ``summary["devices"]``)."""
    frame = trials_frame(study, objectives, budgets)
    complete = frame[frame["state"] == "complete"] if len(frame) else frame
    values = complete[list(objectives)].to_numpy(dtype=np.float64) if len(complete) else np.zeros((0, len(objectives)))
    feasible = (
        (complete["feasible"] & complete["evaluated"]).to_numpy(dtype=bool) if len(complete) else np.zeros(0, bool)
    )
    front = np.zeros(len(values), dtype=bool)
    if feasible.any():
        front[np.flatnonzero(feasible)[pareto_mask(values[feasible], directions)]] = True
    front_table = complete[front].sort_values(objectives[0], ascending=directions[0] == "minimize")
    write_table(frame, run_dir / "trials.parquet")
    write_table(frame, run_dir / "trials.csv")
    write_table(front_table, run_dir / "front.parquet")
    write_table(front_table, run_dir / "front.csv")
    volume = hypervolume(values[feasible], directions, reference) if feasible.any() else 0.0
    curve = hypervolume_curve(values, directions, reference, feasible) if len(values) else np.zeros(0)
    summary = {
        "objectives": list(objectives),
        "directions": list(directions),
        "budgets": [budget.describe() for budget in budgets],
        "reference": list(reference),
        "trials": len(frame),
        "failed": int((frame["state"] == "fail").sum()) if len(frame) else 0,
        "feasible": int(feasible.sum()),
        "front_size": int(front.sum()),
        "hypervolume": float(volume),
        "hypervolume_curve": [float(v) for v in curve],
    }
    if per_device:
        summary["devices"] = {
            device: _device_front(run_dir, complete, device, objectives, directions, reference, budgets)
            for device in (device_of(name) for name in objectives)
            if device is not None
        }
    atomic_write_json(run_dir / "summary.json", summary)
    if len(objectives) >= 2 and len(values):
        limits = {b.metric: b.limit for b in budgets}
        plot_front(values, feasible, front, list(objectives), list(directions), run_dir / "front.png", limits)
    if len(curve):
        plot_hypervolume({"search": curve}, run_dir / "hypervolume.png")
    return summary


def _device_front(
    run_dir: Path,
    complete: pd.DataFrame,
    device: str,
    objectives: Sequence[str],
    directions: Sequence[str],
    reference: Sequence[float],
    budgets: Sequence[Budget],
) -> dict[str, Any]:
    """``device``'s front over the search's evaluations: its latency with the objectives that are no device's,
    among the candidates meeting its own budgets and every budget that is no device's."""
    keep = [i for i, name in enumerate(objectives) if device_of(name) in (None, device)]
    names, signs = [objectives[i] for i in keep], [directions[i] for i in keep]
    feasible = np.zeros(len(complete), dtype=bool)
    if len(complete):
        feasible = complete["evaluated"].to_numpy(dtype=bool).copy()
        for column in complete.columns:
            if not column.startswith("violation_") or column == "violation_devices":
                continue
            other = device_of(column.removeprefix("violation_"))
            if other in (None, device):
                feasible &= ~(complete[column].to_numpy(dtype=np.float64) > 0)
    values = complete[names].to_numpy(dtype=np.float64) if len(complete) else np.zeros((0, len(names)))
    front = np.zeros(len(values), dtype=bool)
    if feasible.any():
        front[np.flatnonzero(feasible)[pareto_mask(values[feasible], signs)]] = True
    table = complete[front].sort_values(names[-1], ascending=signs[-1] == "minimize")
    write_table(table, run_dir / f"front@{device}.parquet")
    write_table(table, run_dir / f"front@{device}.csv")
    if len(names) >= 2 and len(values):
        limits = {b.metric: b.limit for b in budgets if b.metric in names}
        plot_front(values, feasible, front, names, signs, run_dir / f"front@{device}.png", limits)
    point = [reference[i] for i in keep]
    volume = hypervolume(values[feasible], signs, point) if feasible.any() else 0.0
    return {"objectives": names, "feasible": int(feasible.sum()), "front_size": int(front.sum()),
            "hypervolume": float(volume), "front": f"front@{device}.csv"}  # fmt: skip


def read_report(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The summary and the front table of a finished search."""
    folder = Path(run_dir)
    summary_path, front_path = folder / "summary.json", folder / "front.csv"
    if not summary_path.is_file() or not front_path.is_file():
        raise DataError(f"{folder} has no search results (summary.json and front.csv); run `nas search` first")
    try:
        summary = safe_json.loads(summary_path.read_bytes())
        front = pd.read_csv(front_path) if front_path.stat().st_size > 1 else pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{folder}: unreadable search results: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(summary, dict):
        raise DataError(f"{summary_path} must hold a JSON object, got {type(summary).__name__}")
    return summary, front


def read_front(run_dir: str | Path, name: str) -> pd.DataFrame:
    """A front table of a finished search by file name (``front@pi5.csv``); empty when the front is."""
    path = Path(run_dir) / name
    if Path(name).name != name or not path.is_file():
        raise DataError(f"{run_dir} has no front table {name!r}; run `nas search` first")
    try:
        return pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame()
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: unreadable front table: {str(exc).splitlines()[0][:200]}") from None
