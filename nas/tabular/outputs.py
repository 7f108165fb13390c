"""Files of a ``nas bench search`` run: every query's mean and standard error per strategy (CSV), the reporting
budgets (CSV), a summary (JSON) and a plot (PNG), each written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from nas.tabular.search import BenchRun, checkpoint_rows, summary_rows
from search_spaces.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from search_spaces.table import rows_csv

__all__ = ["write_search_outputs"]


def write_search_outputs(run: BenchRun, out_dir: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Write ``curves.csv``, ``checkpoints.csv``, ``summary.json`` and ``regret.png`` (or ``hypervolume.png``);
    returns the summary."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    problem = run.problem
    checkpoints = checkpoint_rows(run)
    atomic_write_text(folder / "curves.csv", rows_csv(summary_rows(run)))
    atomic_write_text(folder / "checkpoints.csv", rows_csv(checkpoints))
    plot = folder / ("hypervolume.png" if problem.two_objectives else "regret.png")
    atomic_write_bytes(plot, _plot(run))
    summary: dict[str, Any] = {
        **settings,
        "table": problem.table.source,
        "archs": len(problem.table),
        "metric": problem.metric,
        "latency": problem.latency,
        "latency_limit": problem.latency_limit,
        "feasible_archs": int(problem.feasible.sum()),
        "optimum": problem.optimum(),
        "seconds": {name: round(value, 2) for name, value in run.seconds.items()},
        "checkpoints": checkpoints,
        "files": {"curves": str(folder / "curves.csv"), "checkpoints": str(folder / "checkpoints.csv")},
        "plot": str(plot),
    }
    if problem.two_objectives:
        summary["reference"] = problem.reference().tolist()
        summary["exact_front_hypervolume"] = problem.exact_hypervolume()
    else:
        summary["half_random_regret_everywhere"] = {
            name: all(
                row["ratio_to_random"] is not None and row["ratio_to_random"] <= 0.5
                for row in checkpoints
                if row["strategy"] == name and 50 <= row["queries"]
            )
            for name in run.curves
        }
    atomic_write_json(folder / "summary.json", summary)
    return summary


def _plot(run: BenchRun) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    queries = np.arange(1, run.queries + 1)
    for name, curve in run.curves.items():
        mean = curve.mean(axis=0)
        se = curve.std(axis=0, ddof=1) / np.sqrt(curve.shape[0]) if curve.shape[0] > 1 else np.zeros_like(mean)
        axes.plot(queries, mean, label=name)
        axes.fill_between(queries, mean - se, mean + se, alpha=0.2)
    problem = run.problem
    if problem.two_objectives:
        axes.axhline(0.99, color="gray", linestyle=":", label="0.99 of the exact front")
        axes.set_ylabel(f"hypervolume / exact front's ({problem.metric}, {problem.latency})")
    else:
        assert run.random_expected is not None
        axes.plot(queries, run.random_expected, "k--", label="random search (exact expectation)")
        axes.set_yscale("symlog", linthresh=0.01)
        budget = f", {problem.latency} <= {problem.latency_limit:g}" if problem.latency_limit is not None else ""
        axes.set_ylabel(f"regret of {problem.metric}{budget}")
    axes.set_xlabel("queries")
    axes.set_title(f"{Path(problem.table.source.split(' + ')[0]).name}: mean ± s.e. over {curve.shape[0]} seeds")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
