"""``nas bench latency-transfer``: few-shot latency prediction for an unseen device, on a table of measured
latencies (one ``<device>_ms`` column per device, e.g. HELP's NAS-Bench-201 measurements).

Each device column is held out in turn: K archs are "measured" on it (seeds 0..seeds-1, see
``predictors.transfer.sample_measured``), and ``predictors.transfer.FewShotLatencyTransfer`` predicts the rest from
the other devices' latencies of every arch plus cheap arch features; the score is Spearman's rank correlation on
the archs not measured. With ``hold_out="device"`` the held-out column's siblings (the same device at another batch
size: ``2080ti_1_ms`` and ``2080ti_32_ms``) are removed from the sources too, so the device is truly unseen.

Features (``features=``), measured on HELP's NB201 table (16 devices, 10 seeds, leave one device out; mean Spearman
at K = 5 / 10 / 20):

* ``"counts"`` (default): how many edges hold each op (the encoding's ``count_*`` columns): 0.942 / 0.968 / 0.978.
  Spaces without such columns use their numeric choices (depth, kernel size, ...) instead.
* ``"none"``: the source devices only: 0.942 / 0.966 / 0.976.
* ``"encode"``: the whole encoding (one-hot per edge as well): 0.942 / 0.922 / 0.949 (too many columns for K points).

At K = 5 the transfer scales the single most proportional source device, so features play no part there. HELP
(NeurIPS 2021) reports 0.932 at K = 10 on its own devices and split: a reference point, not a paired comparison.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predictors.transfer import leave_one_out_transfer
from search_spaces.atomic import atomic_write_bytes, atomic_write_text
from search_spaces.errors import ConfigError, DataError
from search_spaces.table import ArchTable, rows_csv

__all__ = [
    "DEFAULT_KS",
    "FEATURES",
    "HELP_K",
    "HELP_SPEARMAN",
    "HOLD_OUT",
    "LATENCY_SUFFIX",
    "device_groups",
    "latency_features",
    "latency_transfer",
    "write_latency_outputs",
]

DEFAULT_KS: tuple[int, ...] = (5, 10, 20)
FEATURES: tuple[str, ...] = ("counts", "encode", "none")
HOLD_OUT: tuple[str, ...] = ("device", "column")
HELP_SPEARMAN = 0.932  # HELP (NeurIPS 2021): mean Spearman on unseen devices from 10 measured archs
HELP_K = 10
LATENCY_SUFFIX = "_ms"
_BATCH = re.compile(r"_\d+$")


def _device(column: str) -> str:
    """``2080ti_32_ms`` -> ``2080ti``: the column name without ``_ms`` and a trailing ``_<batch size>``."""
    return _BATCH.sub("", column.removesuffix(LATENCY_SUFFIX))


def device_groups(columns: Sequence[str]) -> dict[str, list[str]]:
    """Column -> the other columns of the same device (same name once ``_ms`` and a trailing ``_<number>`` are
    removed); only columns that have such siblings appear."""
    groups = {c: [o for o in columns if o != c and _device(o) == _device(c)] for c in columns}
    return {c: others for c, others in groups.items() if others}


def latency_features(table: ArchTable, features: str) -> tuple[np.ndarray | None, list[str]]:
    """The arch features for the transfer and their names (``None`` and ``[]`` when there are none).

    ``"counts"``: the encoding's ``count_*`` columns, else each all-numeric decision's value (0 where gated off);
    ``"encode"``: the whole encoding; ``"none"``: no features.
    """
    if features not in FEATURES:
        raise ConfigError(
            f"features={features!r}: use 'counts' (op counts or numeric choices), 'encode' (the whole encoding) "
            "or 'none'",
            field="features",
            value=features,
            allowed=list(FEATURES),
        )
    if features == "none":
        return None, []
    space = table.space
    names = list(space.feature_names())
    if features == "encode":
        return np.asarray([space.encode(arch) for arch in table.archs], dtype=np.float64), names
    counts = [i for i, name in enumerate(names) if name.startswith("count_")]
    if counts:
        matrix = np.asarray([space.encode(arch) for arch in table.archs], dtype=np.float64)
        return matrix[:, counts], [names[i] for i in counts]
    numeric = [
        d.label
        for d in space.decisions()
        if d.choices and all(isinstance(c, int | float) and not isinstance(c, bool) for c in d.choices)
    ]
    if not numeric:
        return None, []
    values = [[float(arch.get(label) or 0) for label in numeric] for arch in table.archs]
    return np.asarray(values, dtype=np.float64), numeric


def _check_args(
    table: ArchTable, device_columns: Sequence[str] | None, ks: Sequence[int], seeds: int, hold_out: str
) -> tuple[list[str], list[int], int]:
    if not isinstance(table, ArchTable):
        raise ConfigError(f"table must be an ArchTable, got {type(table).__name__}", field="table")
    available = list(table.metrics)
    if device_columns is None:
        columns = [c for c in available if c.endswith(LATENCY_SUFFIX)]
        if len(columns) < 2:
            raise ConfigError(
                f"{table.source} has {len(columns)} latency column(s) ending in {LATENCY_SUFFIX!r} "
                f"({', '.join(columns) or 'none'}); transfer needs at least 2. Metric columns: "
                f"{', '.join(available) or 'none'}",
                field="device_columns",
                value=columns,
                allowed=available,
            )
    else:
        if isinstance(device_columns, str):
            raise ConfigError(
                f"device_columns={device_columns!r}: give a list of column names",
                field="device_columns",
                value=device_columns,
                allowed=available,
            )
        columns = [str(c) for c in device_columns]
        for column in columns:
            if column not in table.metrics:
                raise ConfigError(
                    f"no device column {column!r} in {table.source}; its metric columns: {', '.join(available)}",
                    field="device_columns",
                    value=column,
                    allowed=available,
                )
        if len(set(columns)) != len(columns):
            raise ConfigError(f"device_columns={columns} repeats a column", field="device_columns", value=columns)
        if len(columns) < 2:
            raise ConfigError(
                f"device_columns={columns}: need at least 2 device columns (one held out, the rest as sources)",
                field="device_columns",
                value=columns,
                allowed=available,
            )
    n = len(table)
    if isinstance(ks, int | str) or not isinstance(ks, Sequence | np.ndarray) or len(ks) == 0:
        raise ConfigError(f"ks={ks!r}: give a non-empty list of measured-arch counts", field="ks", value=ks)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= n - 2:
            raise ConfigError(
                f"ks: {k!r} measured archs out of {n}; K must be an integer in [2, {n - 2}] (2 must remain to score)",
                field="ks",
                value=k,
                allowed=f"integers in [2, {n - 2}]",
            )
    if len(set(int(k) for k in ks)) != len(ks):
        raise ConfigError(f"ks={list(ks)} repeats a value", field="ks", value=list(ks))
    if isinstance(seeds, bool) or not isinstance(seeds, int | np.integer) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r}: need a positive integer", field="seeds", value=seeds, allowed=">= 1")
    if hold_out not in HOLD_OUT:
        raise ConfigError(
            f"hold_out={hold_out!r}: 'device' removes the held-out column's other batch sizes from the sources, "
            "'column' only the column itself",
            field="hold_out",
            value=hold_out,
            allowed=list(HOLD_OUT),
        )
    for column in columns:
        values = table.metrics[column]
        bad = np.flatnonzero(~(values > 0))
        if bad.size:
            raise DataError(
                f"{table.source}, row {bad[0] + 1}, column {column!r}: latency {values[bad[0]]!r} ms; "
                "latencies must be > 0"
            )
    return columns, sorted(int(k) for k in ks), int(seeds)


def latency_transfer(
    table: ArchTable,
    device_columns: Sequence[str] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    seeds: int = 10,
    features: str = "counts",
    hold_out: str = "device",
) -> dict[str, Any]:
    """Leave-one-device-out few-shot latency prediction over a table's latency columns.

    Args:
        table: archs with one latency column (ms, > 0) per device.
        device_columns: the latency columns; default every metric column ending in ``_ms`` (at least 2).
        ks: measured archs on the held-out device (each in [2, rows - 2]).
        seeds: seeds 0..seeds-1 choose which archs are measured.
        features: ``"counts"``, ``"encode"`` or ``"none"`` (see :func:`latency_features`).
        hold_out: ``"device"`` also removes the held-out column's siblings (:func:`device_groups`) from the
            sources; ``"column"`` removes the column only.

    Returns a report: ``table``, ``archs``, ``devices``, ``hold_out``, ``groups``, ``features``,
    ``feature_names``, ``ks``, ``seeds``; ``per_k`` (one dict per K: ``k``, ``mean_spearman`` and
    ``median_spearman`` over columns of each column's mean over seeds, ``min_spearman`` (worst column),
    ``mean_kendall_tau``, ``median_mape`` and ``help_spearman``, 0.932 at K = 10, else ``None``); ``per_column``
    (one dict per column and K: ``column``, ``k``, ``spearman``, ``spearman_std`` over seeds, ``kendall_tau``,
    ``mape``); ``help_reference``; ``seconds``.

    Raises:
        ConfigError: a bad argument, naming it (unknown columns list the table's metric columns).
        DataError: a latency that is not > 0.
    """
    began = time.perf_counter()
    columns, ks, seeds = _check_args(table, device_columns, ks, seeds, hold_out)
    matrix_features, feature_names = latency_features(table, features)
    groups = device_groups(columns) if hold_out == "device" else {}
    for column, others in groups.items():
        if len(others) == len(columns) - 1:
            raise ConfigError(
                f"every other column ({', '.join(others)}) is the same device as {column!r}, so holding the device "
                "out leaves no source; use hold_out='column'",
                field="hold_out",
                value=hold_out,
                allowed=list(HOLD_OUT),
            )
    matrix = np.column_stack([table.metrics[c] for c in columns])
    per_k: list[dict[str, Any]] = []
    per_column: list[dict[str, Any]] = []
    for k in ks:
        rows = leave_one_out_transfer(matrix, columns, k, seeds, features=matrix_features, exclude_groups=groups)
        means = []
        for column in columns:
            mine = [r for r in rows if r["column"] == column]
            rho = np.array([r["spearman"] for r in mine], dtype=np.float64)
            entry = {
                "column": column,
                "k": k,
                "spearman": round(float(np.nanmean(rho)), 4),
                "spearman_std": round(float(np.nanstd(rho, ddof=1)), 4) if len(rho) > 1 else 0.0,
                "kendall_tau": round(float(np.nanmean([r["kendall_tau"] for r in mine])), 4),
                "mape": round(float(np.mean([r["mape"] for r in mine])), 4),
            }
            per_column.append(entry)
            means.append(entry)
        rho_by_column = np.array([e["spearman"] for e in means])
        per_k.append(
            {
                "k": k,
                "mean_spearman": round(float(np.mean(rho_by_column)), 4),
                "median_spearman": round(float(np.median(rho_by_column)), 4),
                "min_spearman": round(float(np.min(rho_by_column)), 4),
                "worst_column": means[int(np.argmin(rho_by_column))]["column"],
                "mean_kendall_tau": round(float(np.mean([e["kendall_tau"] for e in means])), 4),
                "median_mape": round(float(np.median([e["mape"] for e in means])), 4),
                "help_spearman": HELP_SPEARMAN if k == HELP_K else None,
            }
        )
    return {
        "table": table.source,
        "archs": len(table),
        "devices": columns,
        "hold_out": hold_out,
        "groups": groups,
        "features": features,
        "feature_names": feature_names,
        "ks": ks,
        "seeds": seeds,
        "per_k": per_k,
        "per_column": per_column,
        "help_reference": {
            "spearman": HELP_SPEARMAN,
            "k": HELP_K,
            "note": "HELP (NeurIPS 2021), mean Spearman on its own unseen devices and split; not a paired comparison",
        },
        "seconds": round(time.perf_counter() - began, 2),
    }


# ---------------------------------------------------------------------- files
def _check_report(report: Any) -> None:
    if not isinstance(report, Mapping) or not report.get("per_k") or not report.get("per_column"):
        raise ConfigError("report must be the dict that latency_transfer returns", field="report")


def _png(report: Mapping[str, Any]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    ks = [row["k"] for row in report["per_k"]]
    by_column: dict[str, list[tuple[int, float]]] = {}
    for row in report["per_column"]:
        by_column.setdefault(row["column"], []).append((row["k"], row["spearman"]))
    for index, points in enumerate(by_column.values()):
        x, y = zip(*sorted(points))
        axes.plot(x, y, color="0.75", linewidth=0.8, label="one held-out device" if index == 0 else None)
    axes.plot(ks, [row["mean_spearman"] for row in report["per_k"]], "o-", color="C0", label="mean over devices")
    axes.plot(ks, [row["median_spearman"] for row in report["per_k"]], "s--", color="C0", alpha=0.6, label="median")
    axes.plot([HELP_K], [HELP_SPEARMAN], "*", color="C3", markersize=14, label=f"HELP ({HELP_SPEARMAN}, K={HELP_K})")
    axes.set_xscale("log")
    axes.set_xticks(ks)
    axes.set_xticklabels([str(k) for k in ks])
    axes.minorticks_off()
    axes.set_xlabel("measured archs on the held-out device (K)")
    axes.set_ylabel("Spearman on the other archs")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    axes.set_title(f"few-shot latency transfer, {len(by_column)} devices, hold out: {report.get('hold_out', '?')}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


CSV_COLUMNS = ("column", "k", "spearman", "spearman_std", "kendall_tau", "mape")


def write_latency_outputs(report: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``latency_transfer.csv`` (column, k, Spearman mean and std over seeds, Kendall tau, MAPE) and
    ``latency_transfer.png`` (mean and median Spearman vs K, each device's line, HELP's 0.932 at K = 10) atomically
    into ``out_dir``. Returns ``{"csv": path, "png": path}``."""
    _check_report(report)
    folder = Path(out_dir)
    return {
        "csv": atomic_write_text(
            folder / "latency_transfer.csv",
            rows_csv(report["per_column"], CSV_COLUMNS),
        ),
        "png": atomic_write_bytes(folder / "latency_transfer.png", _png(report)),
    }
