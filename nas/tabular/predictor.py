"""``nas bench predictor``: how well accuracy predictors rank architectures, by training-set size, on a table.

For each training size and seed, a seeded permutation of the table's rows gives ``test`` held-out archs (the same
for every size of that seed, so sizes are compared on the same archs) followed by ``size`` training archs. Each
predictor kind is fitted on the space's encoding (``table.space.encode``) and scored by Kendall tau and Spearman
on the held-out archs; a published curve (NASLib's XGBoost on NAS-Bench-201) can be set beside it.

What makes small training sets work here:

* **Rank targets.** Predictors are fitted on the training archs' normalized ranks (``target="rank"``), not on the
  raw metric. Ranking is all Kendall tau measures, and on NAS-Bench-201 the raw accuracies have a far tail
  (cells with no path from input to output sit at ~10 %) that dominates a squared loss fitted on a few points.
* **A linear start** (kind ``ridge_gbm`` of ``predictors/ridge_gbm.py``): ridge regression on count-like columns
  (for NB201: how many edges hold each op, and how many of those are on a live path), its strength chosen by
  exact leave-one-out error on the training archs, then LightGBM boosting the residual on every column. The ridge
  part ranks well from 10 archs; the trees take over as data grows.

Hyper-parameters were chosen on seeds 100-109, never on the seeds 0.. that the curve reports.
"""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from predictors.base import Predictor, create_predictor, predictor_kinds
from predictors.metrics import kendall_tau, spearman
from predictors.ridge_gbm import count_columns
from search_spaces.atomic import atomic_write_bytes, atomic_write_text
from search_spaces.errors import ConfigError, DataError
from search_spaces.table import ArchTable, read_frame, rows_csv

__all__ = [
    "DEFAULT_KINDS",
    "DEFAULT_SIZES",
    "REFERENCE_FILE",
    "TARGETS",
    "predictor_curve",
    "predictor_report",
    "read_reference_curve",
    "write_predictor_outputs",
]

DEFAULT_SIZES: tuple[int, ...] = (10, 15, 23, 36, 56, 87, 135, 209, 323, 500)
DEFAULT_KINDS: tuple[str, ...] = ("ridge_gbm", "gbm")
TARGETS: tuple[str, ...] = ("rank", "raw")
REFERENCE_FILE = "derived/naslib_xgb_zc_correlation_summary.csv"


def _create(kind: str, seed: int, linear_columns: list[int] | None) -> Predictor:
    options: dict[str, Any] = {"threads": 1} if kind == "gbm" else {}
    if kind == "ridge_gbm":
        options["linear_columns"] = linear_columns
    return create_predictor(kind, seed=seed, **options)


# ---------------------------------------------------------------------- the curve
def _integer(value: Any, field: str, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{field}={value!r}: {what}", field=field, value=value, allowed=f"integer >= {minimum}")
    return int(value)


def _check_curve_args(
    table: ArchTable,
    metric: str,
    sizes: Sequence[int],
    test: int,
    seeds: int,
    kinds: Sequence[str] | None,
    reference: Mapping[int, float] | None,
    target: str,
) -> tuple[np.ndarray, list[int], list[str]]:
    if not isinstance(table, ArchTable):
        raise ConfigError(f"table must be an ArchTable, got {type(table).__name__}", field="table")
    values = table.column(metric)  # unknown names list the table's metric columns
    if len(np.unique(values)) < 2:
        raise DataError(f"{table.source}: column {metric!r} holds one value; there is nothing to rank")
    test = _integer(test, "test", 2, "need an integer >= 2 held-out archs to compute a rank correlation")
    seeds = _integer(seeds, "seeds", 1, "need a positive integer number of seeds")
    if isinstance(sizes, np.ndarray):
        sizes = sizes.tolist()
    if isinstance(sizes, int | str) or not isinstance(sizes, Sequence) or len(sizes) == 0:
        raise ConfigError(f"sizes={sizes!r}: give a non-empty list of training-set sizes", field="sizes", value=sizes)
    limit = len(table) - test
    for size in sizes:
        _integer(size, "sizes", 2, "every training-set size must be an integer >= 2")
        if size > limit:
            raise ConfigError(
                f"sizes: {size} training + {test} test archs exceed the {len(table)} rows of {table.source}; "
                f"the largest size possible is {limit}",
                field="sizes",
                value=size,
                allowed=f"2..{limit}",
            )
    if len(set(sizes)) != len(sizes):
        raise ConfigError(f"sizes={list(sizes)} repeats a size", field="sizes", value=list(sizes))
    valid = predictor_kinds()
    chosen = list(DEFAULT_KINDS if kinds is None else kinds)
    if isinstance(kinds, str) or not chosen:
        raise ConfigError(f"kinds={kinds!r}: give a non-empty list of kinds", field="kinds", value=kinds, allowed=valid)
    for kind in chosen:
        if kind not in valid:
            raise ConfigError(
                f"unknown predictor kind {kind!r}; valid kinds: {', '.join(valid)}",
                field="kinds",
                value=kind,
                allowed=valid,
            )
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"kinds={chosen} repeats a kind", field="kinds", value=chosen, allowed=valid)
    if target not in TARGETS:
        raise ConfigError(
            f"target={target!r}: fit on 'rank' (normalized ranks) or 'raw' (the metric itself)",
            field="target",
            value=target,
            allowed=list(TARGETS),
        )
    if reference is not None and not isinstance(reference, Mapping):
        raise ConfigError("reference must map training size -> Kendall tau", field="reference", value=reference)
    return values, [int(s) for s in sizes], chosen


def _normalized_ranks(values: np.ndarray) -> np.ndarray:
    return rankdata(values) / len(values)


def _score(metric: Callable[[np.ndarray, np.ndarray], float], truth: np.ndarray, predicted: np.ndarray) -> float:
    """A rank correlation; a constant prediction (undefined correlation) ranks nothing and scores 0."""
    value = metric(truth, predicted)
    return 0.0 if math.isnan(value) else value


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return round(mean, 4), round(std, 4)


def predictor_curve(
    table: ArchTable,
    metric: str,
    sizes: Sequence[int] = DEFAULT_SIZES,
    test: int = 200,
    seeds: int = 5,
    kinds: Sequence[str] | None = None,
    reference: Mapping[int, float] | None = None,
    progress: bool = False,
    target: str = "rank",
) -> list[dict[str, Any]]:
    """Kendall tau and Spearman of each predictor kind on ``test`` held-out archs, per training-set size.

    Args:
        table: the archs and their metrics; features are ``table.space.encode(arch)``.
        metric: the metric column to predict (larger or smaller is better alike: only the order is scored).
        sizes: training-set sizes (each >= 2, each + ``test`` <= the table's rows).
        test: held-out archs per seed (the first ``test`` of the seed's permutation, shared by all sizes).
        seeds: seeds 0..seeds-1; seed ``s`` permutes the rows with ``numpy.random.default_rng(s)``.
        kinds: predictor kinds (:func:`predictors.predictor_kinds`); default :data:`DEFAULT_KINDS`.
        reference: a published tau per training size (:func:`read_reference_curve`), reported beside ours.
        progress: print one line per size on stderr.
        target: ``"rank"`` fits the training archs' normalized ranks, ``"raw"`` the metric itself.

    Returns one row per size, in the order given: ``train_size``, ``test_size``, ``seeds``, per kind
    ``<kind>_tau``, ``<kind>_tau_std``, ``<kind>_spearman``, ``<kind>_spearman_std`` (mean and standard deviation
    over seeds) and ``<kind>_seconds`` (mean fit + predict time), then ``best_kind``, ``best_tau``,
    ``reference_tau`` (``None`` when the reference has no value at that size) and ``above_reference`` (whether
    the best kind's mean tau is above it; ``None`` without a reference value).

    Raises:
        ConfigError: a bad argument, naming it; an unknown metric lists the table's metric columns.
        DataError: a metric column with a single value.
    """
    values, sizes, chosen = _check_curve_args(table, metric, sizes, test, seeds, kinds, reference, target)
    features = np.asarray([table.space.encode(arch) for arch in table.archs], dtype=np.float64)
    linear = count_columns(features) or None  # decided on the whole space's encoding; no metric involved
    orders = [np.random.default_rng(seed).permutation(len(table)) for seed in range(seeds)]
    rows = []
    for size in sizes:
        start = time.perf_counter()
        scores: dict[str, dict[str, list[float]]] = {k: {"tau": [], "rho": [], "s": []} for k in chosen}
        for seed, order in enumerate(orders):
            held, train = order[:test], order[test : test + size]
            y = _normalized_ranks(values[train]) if target == "rank" else values[train]
            for kind in chosen:
                began = time.perf_counter()
                predicted = _create(kind, seed, linear).fit(features[train], y).predict(features[held])
                scores[kind]["s"].append(time.perf_counter() - began)
                scores[kind]["tau"].append(_score(kendall_tau, values[held], predicted))
                scores[kind]["rho"].append(_score(spearman, values[held], predicted))
        row: dict[str, Any] = {"train_size": size, "test_size": int(test), "seeds": int(seeds)}
        for kind in chosen:
            row[f"{kind}_tau"], row[f"{kind}_tau_std"] = _mean_std(scores[kind]["tau"])
            row[f"{kind}_spearman"], row[f"{kind}_spearman_std"] = _mean_std(scores[kind]["rho"])
            row[f"{kind}_seconds"] = round(float(np.mean(scores[kind]["s"])), 4)
        best = max(chosen, key=lambda kind: row[f"{kind}_tau"])
        row["best_kind"], row["best_tau"] = best, row[f"{best}_tau"]
        ref = None if reference is None else reference.get(size)
        row["reference_tau"] = None if ref is None else float(ref)
        row["above_reference"] = None if ref is None else bool(row["best_tau"] > float(ref))
        rows.append(row)
        if progress:
            taus = "  ".join(f"{kind} {row[f'{kind}_tau']:.3f}" for kind in chosen)
            ref_text = "" if ref is None else f"  (reference {float(ref):.3f})"
            print(
                f"train {size:>5}: tau {taus}{ref_text}  [{time.perf_counter() - start:.1f}s]",
                file=sys.stderr,
                flush=True,
            )
    return rows


def _row_kinds(row: Mapping[str, Any]) -> list[str]:
    return [key[: -len("_tau")] for key in row if key.endswith("_tau") and key not in ("best_tau", "reference_tau")]


def predictor_report(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The curve in a few lists: ``sizes``, ``<kind>_tau`` per size, ``reference_tau``, ``best_kind``,
    ``above_reference`` (the best kind at each size) and ``above_reference_at_every_size`` (``None`` when no size
    has a reference value), and the same for each kind alone (``above_reference_at_every_size_by_kind``: picking
    the best kind per size after seeing the test scores flatters the curve a little)."""
    kinds = _row_kinds(rows[0]) if rows else []
    report: dict[str, Any] = {"sizes": [row["train_size"] for row in rows]}
    for kind in kinds:
        report[f"{kind}_tau"] = [row[f"{kind}_tau"] for row in rows]
    report["reference_tau"] = [row["reference_tau"] for row in rows]
    report["best_kind"] = [row["best_kind"] for row in rows]
    report["above_reference"] = [row["above_reference"] for row in rows]
    known = [flag for flag in report["above_reference"] if flag is not None]
    report["above_reference_at_every_size"] = (
        None if not known else all(flag is True for flag in report["above_reference"])
    )
    report["above_reference_at_every_size_by_kind"] = {
        kind: None
        if not known
        else all(row["reference_tau"] is not None and row[f"{kind}_tau"] > row["reference_tau"] for row in rows)
        for kind in kinds
    }
    return report


# ---------------------------------------------------------------------- the published curve
def read_reference_curve(
    path: str | Path, search_space: str = "nasbench201", dataset: str = "cifar10"
) -> dict[int, float]:
    """Mean Kendall tau by training size from NASLib's summary CSV (``derived/naslib_xgb_zc_correlation_summary.csv``:
    columns ``search_space``, ``dataset``, ``train_size``, ``kendalltau_mean``), for one space and data set.

    Raises:
        DataError: a missing or unreadable file, a missing column, no row for (search_space, dataset), a
            non-numeric value or a repeated training size (each naming the file and row).
    """
    file = Path(path)
    frame = read_frame(file)
    needed = ("search_space", "dataset", "train_size", "kendalltau_mean")
    for column in needed:
        if column not in frame.columns:
            raise DataError(
                f"{file}: no column {column!r}; a reference curve needs {', '.join(needed)} "
                f"(it has {', '.join(map(str, frame.columns))})"
            )
    match = (frame["search_space"].astype(str) == search_space) & (frame["dataset"].astype(str) == dataset)
    if not match.any():
        pairs = sorted({f"{s}/{d}" for s, d in zip(frame["search_space"], frame["dataset"])})
        raise DataError(f"{file}: no rows for {search_space}/{dataset}; it has {', '.join(pairs)}")
    curve: dict[int, float] = {}
    for index in np.flatnonzero(match.to_numpy()):
        row = int(index) + 1
        try:
            size, tau = float(frame["train_size"].iloc[index]), float(frame["kendalltau_mean"].iloc[index])
        except (TypeError, ValueError):
            raise DataError(f"{file}, row {row}: train_size and kendalltau_mean must be numbers") from None
        if not (math.isfinite(size) and size.is_integer() and size >= 1):
            raise DataError(f"{file}, row {row}, column 'train_size': {size!r} is not a positive integer")
        if not (math.isfinite(tau) and -1.0 <= tau <= 1.0):
            raise DataError(f"{file}, row {row}, column 'kendalltau_mean': {tau!r} is not a tau in [-1, 1]")
        if int(size) in curve:
            raise DataError(f"{file}, row {row}: train_size {int(size)} appears twice for {search_space}/{dataset}")
        curve[int(size)] = tau
    return dict(sorted(curve.items()))


# ---------------------------------------------------------------------- files
def _png(rows: Sequence[Mapping[str, Any]], title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    sizes = np.array([row["train_size"] for row in rows], dtype=float)
    for kind in _row_kinds(rows[0]):
        mean = np.array([row[f"{kind}_tau"] for row in rows], dtype=float)
        std = np.array([row.get(f"{kind}_tau_std") or 0.0 for row in rows], dtype=float)
        (line,) = axes.plot(sizes, mean, marker="o", markersize=3, label=kind)
        axes.fill_between(sizes, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    reference = [(row["train_size"], row["reference_tau"]) for row in rows if row.get("reference_tau") is not None]
    if reference:
        x, y = zip(*reference)
        axes.plot(x, y, "k--", marker="s", markersize=3, label="reference (published)")
    axes.set_xscale("log")
    axes.set_xlabel("training archs")
    axes.set_ylabel(f"Kendall tau on {rows[0].get('test_size', '?')} held-out archs")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    if title:
        axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def write_predictor_outputs(rows: Sequence[Mapping[str, Any]], out_dir: str | Path, title: str = "") -> dict[str, Path]:
    """Write ``predictor_curve.csv`` (one row per size) and ``predictor_curve.png`` (tau vs training size, log x,
    one line per kind with a +-1 std band over seeds, the reference dashed) atomically into ``out_dir``.

    Returns ``{"csv": path, "png": path}``.
    """
    if isinstance(rows, Mapping) or not rows or not all(isinstance(r, Mapping) and "train_size" in r for r in rows):
        raise ConfigError("rows must be the non-empty list that predictor_curve returns", field="rows")
    folder = Path(out_dir)
    return {
        "csv": atomic_write_text(folder / "predictor_curve.csv", rows_csv(rows)),
        "png": atomic_write_bytes(folder / "predictor_curve.png", _png(rows, title)),
    }
