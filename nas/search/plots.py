"""PNG plots of a search: the Pareto front of two objectives and hypervolume over evaluations.

Figures are drawn on an explicit Agg canvas (no pyplot, no display, no global backend switch), rendered to memory
and written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nas.search.pareto import check_directions, check_mask
from search_spaces import ConfigError
from search_spaces.atomic import atomic_write_bytes

__all__ = ["new_figure", "plot_front", "plot_hypervolume", "save_figure"]

_SHORT = {"minimize": "min", "maximize": "max"}


def new_figure() -> Figure:
    """A figure with an Agg canvas attached, independent of pyplot's state."""
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Render ``figure`` as PNG into memory and write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def _front_inputs(
    all_values: np.ndarray,
    feasible: np.ndarray,
    front_mask: np.ndarray,
    names: Sequence[str],
    directions: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Validate the arguments of :func:`plot_front`."""
    values = np.asarray(all_values, dtype=float)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ConfigError(
            f"all_values must be a 2-D array (n_points, n_objectives) with at least 2 objectives, got shape "
            f"{values.shape}",
            field="all_values",
            value=values.shape,
        )
    n, m = values.shape
    masks = [check_mask(feasible, n, "feasible"), check_mask(front_mask, n, "front_mask")]
    name_list = [str(name) for name in names] if not isinstance(names, str) else [names]
    if len(name_list) != m:
        raise ConfigError(
            f"names has {len(name_list)} entries ({name_list}) but all_values has {m} columns; give one per column",
            field="names",
            value=name_list,
        )
    check_directions(directions, m)
    return values, masks[0], masks[1], name_list, list(directions)


def plot_front(
    all_values: np.ndarray,
    feasible: np.ndarray,
    front_mask: np.ndarray,
    names: Sequence[str],
    directions: Sequence[str],
    path: str | os.PathLike[str],
    budgets: Mapping[str, float] | None = None,
    title: str = "",
) -> Path:
    """Scatter the first two objectives: infeasible, feasible and front points, the front's staircase, budgets."""
    values, feasible_mask, front, name_list, direction_list = _front_inputs(
        all_values, feasible, front_mask, names, directions
    )
    xy = values[:, :2]
    figure = new_figure()
    axes = figure.add_subplot()
    infeasible = ~feasible_mask
    if infeasible.any():
        axes.scatter(*xy[infeasible].T, marker="x", color="grey", alpha=0.6, s=20, label="infeasible")
    others = feasible_mask & ~front
    if others.any():
        axes.scatter(*xy[others].T, color="tab:blue", alpha=0.3, s=18, label="feasible")
    if front.any():
        points = xy[front]
        points = points[np.lexsort((points[:, 1], points[:, 0]))]
        # A minimized x is covered to the right of each point (step after it), a maximized x to the left.
        where = "post" if direction_list[0] == "minimize" else "pre"
        axes.step(points[:, 0], points[:, 1], where=where, color="tab:red", linewidth=1.2, alpha=0.8)
        axes.scatter(*points.T, color="tab:red", edgecolor="black", linewidth=0.5, s=36, zorder=3, label="Pareto front")
    for name, limit in (budgets or {}).items():
        if name == name_list[0]:
            axes.axvline(float(limit), linestyle="--", color="tab:green", label=f"budget {name} = {float(limit):g}")
        elif name == name_list[1]:
            axes.axhline(float(limit), linestyle="--", color="tab:purple", label=f"budget {name} = {float(limit):g}")
    axes.set_xlabel(f"{name_list[0]} ({_SHORT[direction_list[0]]})")
    axes.set_ylabel(f"{name_list[1]} ({_SHORT[direction_list[1]]})")
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path)


def plot_hypervolume(
    curves: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    title: str = "Hypervolume over evaluations",
) -> Path:
    """One line per label (e.g. the search and a random baseline): hypervolume against the number of evaluations."""
    if not curves:
        raise ConfigError("curves must hold at least one labelled curve, got none", field="curves", value={})
    figure = new_figure()
    axes = figure.add_subplot()
    for label, curve in curves.items():
        array = np.asarray(curve, dtype=float)
        if array.ndim != 1:
            raise ConfigError(
                f"curves[{label!r}] must be a 1-D array (one hypervolume per evaluation), got shape {array.shape}",
                field="curves",
                value=label,
            )
        axes.plot(np.arange(1, array.size + 1), array, drawstyle="steps-post", label=str(label))
    axes.set_xlabel("evaluations")
    axes.set_ylabel("hypervolume")
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path)
