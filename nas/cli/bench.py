"""``nas bench search | predictor | latency-transfer``: measure search strategies, accuracy predictors and latency
transfer on tabular benchmarks (NAS-Bench-201 by default; any table of the same shape through the flags)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from nas.cli.common import Commands, actions, emit_report
from nas.search.samplers import list_samplers
from nas.tabular.benchdata import benchdata_path, default_benchdata
from nas.tabular.latency import (
    DEFAULT_KS,
    FEATURES,
    HELP_SPEARMAN,
    HOLD_OUT,
    LATENCY_SUFFIX,
    latency_transfer,
    write_latency_outputs,
)
from nas.tabular.outputs import write_search_outputs
from nas.tabular.predictor import (
    DEFAULT_KINDS,
    DEFAULT_SIZES,
    REFERENCE_FILE,
    TARGETS,
    predictor_curve,
    predictor_report,
    read_reference_curve,
    write_predictor_outputs,
)
from nas.tabular.search import BenchProblem, run_bench
from predictors.base import predictor_kinds
from search_spaces import ConfigError
from search_spaces.table import ARCH_FORMATS, read_arch_table, read_frame

__all__ = ["register"]

_BENCH_HELP = """\
Tabular benchmarks: every architecture's metrics are rows of a table, so strategies and predictors can be
compared over many seeds in seconds. Defaults read NAS-Bench-201 (CIFAR-10 test accuracy of all 15,625 cells)
and HELP's measured NB201 latencies from $NAS_BENCHDATA (default ../shared/benchdata). Any table of the same shape
works: --table, --arch-columns (the columns that are the architecture choices, or one arch-string column with
--arch-format nb201), --metric and --latency-column are arguments. Results go to runs/bench/<action>-<time>/."""


def add_table_arguments(parser: argparse.ArgumentParser, table: str, help_text: str) -> None:
    """The flags that say which table to read and how its architectures are written."""
    parser.add_argument("--table", default=table, help=help_text)
    parser.add_argument(
        "--arch-columns",
        nargs="+",
        default=["arch_str"],
        metavar="COLUMN",
        help="the column(s) forming an arch (one arch-string column with --arch-format)",
    )
    parser.add_argument(
        "--arch-format",
        default="nb201",
        choices=[*ARCH_FORMATS, "none"],
        help="parser of a one-column arch string (nb201: |op~0|+|op~0|op~1|+...); 'none': the arch columns are "
        "the choices themselves",
    )


def arch_format(args: argparse.Namespace) -> str | None:
    """The ``--arch-format`` value as ``read_arch_table`` takes it."""
    return None if args.arch_format == "none" else args.arch_format


def _out_dir(args: argparse.Namespace, action: str) -> Path:
    if args.out:
        return Path(args.out)
    return Path("runs") / "bench" / datetime.now().strftime(f"{action}-%Y%m%d-%H%M%S")


def _latency_limit(text: str | None, latencies: Any) -> float | None:
    if text is None:
        return None
    if text == "median":
        return float(np.median(latencies))
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"--latency-budget {text!r} is neither 'median' nor a number of ms",
            field="latency_budget",
            value=text,
            allowed="median or a positive number",
        ) from None
    if not value > 0:
        raise ConfigError(f"--latency-budget {value:g} must be > 0 ms", field="latency_budget", value=value)
    return value


def _search(args: argparse.Namespace) -> dict[str, Any]:
    needs_latency = args.latency_budget is not None or args.two_objectives
    if needs_latency and not args.latency_column:
        raise ConfigError("--latency-budget and --two-objectives need --latency-column", field="latency_column")
    in_main = [args.latency_column] if needs_latency and not args.latency_table else []
    fmt = arch_format(args)
    table = read_arch_table(args.table, args.arch_columns, [args.metric, *in_main], fmt)
    if needs_latency and args.latency_table:
        table = table.join(read_arch_table(args.latency_table, args.arch_columns, [args.latency_column], fmt))
    latency = args.latency_column if needs_latency else None
    limit = _latency_limit(args.latency_budget, table.column(latency)) if latency else None
    problem = BenchProblem(table, args.metric, args.minimize, latency, limit, args.two_objectives)
    run = run_bench(problem, args.strategies, args.seeds, args.queries, args.population, progress=not args.json)
    out = _out_dir(args, "search")
    settings = {"strategies": args.strategies, "seeds": args.seeds, "queries": args.queries}
    summary = write_search_outputs(run, out, {**settings, "population": args.population})
    report: dict[str, Any] = {"out": str(out), "optimum": summary["optimum"], "plot": summary["plot"]}
    measure = "hypervolume_ratio_mean" if args.two_objectives else "regret_mean"
    for row in summary["checkpoints"]:
        report[f"{row['strategy']}@{row['queries']}"] = round(row[measure], 4)
        if "random_exact_regret" in row and row["strategy"] == args.strategies[0]:
            report[f"random_exact@{row['queries']}"] = round(row["random_exact_regret"], 4)
    return report


def _latency_transfer(args: argparse.Namespace) -> dict[str, Any]:
    devices = args.devices
    if devices is None:
        frame = read_frame(args.table)
        devices = [str(c) for c in frame.columns if str(c).endswith(LATENCY_SUFFIX)]
        if len(devices) < 2:
            raise ConfigError(
                f"{args.table} has {len(devices)} column(s) ending in {LATENCY_SUFFIX!r}; name at least 2 latency "
                f"columns with --devices (it has {', '.join(map(str, frame.columns))})",
                field="devices",
                value=devices,
                allowed=[str(c) for c in frame.columns],
            )
    table = read_arch_table(args.table, args.arch_columns, devices, arch_format=arch_format(args))
    report = latency_transfer(
        table, devices, ks=args.ks, seeds=args.seeds, features=args.features, hold_out=args.hold_out
    )
    paths = write_latency_outputs(report, args.out)
    spearman = {row["column"]: [] for row in report["per_column"]}
    for row in report["per_column"]:
        spearman[row["column"]].append(row["spearman"])
    return {
        "table": report["table"],
        "archs": report["archs"],
        "devices": len(report["devices"]),
        "hold_out": report["hold_out"],
        "features": report["features"],
        "seeds": report["seeds"],
        "ks": report["ks"],
        "mean_spearman": [row["mean_spearman"] for row in report["per_k"]],
        "median_spearman": [row["median_spearman"] for row in report["per_k"]],
        "min_spearman": [row["min_spearman"] for row in report["per_k"]],
        "help_spearman_at_k10": HELP_SPEARMAN,
        "spearman_by_column": spearman,
        "csv": str(paths["csv"]),
        "png": str(paths["png"]),
        "seconds": report["seconds"],
    }


def _none(value: str | None) -> str | None:
    return None if value is None or value.lower() == "none" else value


def _predictor(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    table = read_arch_table(args.table, args.arch_columns, [args.metric], arch_format=arch_format(args))
    reference_file = _none(args.reference)
    reference = (
        None
        if reference_file is None
        else read_reference_curve(reference_file, args.reference_space, args.reference_dataset)
    )
    rows = predictor_curve(
        table,
        args.metric,
        sizes=args.sizes,
        test=args.test,
        seeds=args.seeds,
        kinds=args.kinds,
        reference=reference,
        progress=not (args.json or args.quiet),
        target=args.target,
    )
    paths = write_predictor_outputs(rows, args.out, title=f"{Path(args.table).name}: {args.metric}")
    return {
        "table": table.source,
        "archs": len(table),
        "metric": args.metric,
        "target": args.target,
        "test": args.test,
        "seeds": args.seeds,
        "kinds": list(args.kinds),
        "reference": reference_file,
        **predictor_report(rows),
        "csv": str(paths["csv"]),
        "png": str(paths["png"]),
        "seconds": round(time.perf_counter() - began, 1),
    }


def register(commands: Commands) -> None:
    """Add ``nas bench`` and its actions."""
    parser = commands.add("bench", "search, predictors and latency transfer on NAS tables", _BENCH_HELP, raw=True)
    action = actions(parser)
    search = action(
        "search",
        "regret (or hypervolume ratio) of search strategies over seeds and queries, vs exact random search",
    )
    add_table_arguments(search, benchdata_path("nb201_cifar10.csv"), "CSV, JSONL or Parquet file, one arch per row")
    search.add_argument("--metric", default="cifar10_test_acc", help="metric column to optimize")
    search.add_argument("--minimize", action="store_true", help="smaller metric values are better (e.g. a loss)")
    search.add_argument(
        "--strategies",
        nargs="+",
        default=["predictor", "evolution"],
        help=f"samplers to compare, any of {', '.join(list_samplers())} (random search's exact expectation is always "
        "reported for one objective)",
    )
    search.add_argument("--seeds", type=int, default=20)
    search.add_argument("--queries", type=int, default=300, help="table lookups each run may make")
    search.add_argument("--population", type=int, default=20, help="evolution / NSGA-II population")
    search.add_argument(
        "--latency-table",
        default=None,
        help="table holding --latency-column, joined on the arch (e.g. "
        f"{benchdata_path('derived', 'nb201_latency_help.csv')}); default: the --table itself",
    )
    search.add_argument("--latency-column", help="latency column (ms), e.g. raspi4_ms")
    search.add_argument("--latency-budget", help="keep latency <= this: 'median' of the column or a number of ms")
    search.add_argument(
        "--two-objectives", action="store_true", help="optimize metric and latency together (hypervolume ratio)"
    )
    search.add_argument("--out", help="output folder (default runs/bench/search-<time>)")
    search.set_defaults(func=lambda a: emit_report(a, _search(a)))

    parser = action("predictor", "Kendall tau of accuracy predictors vs training-set size on a table")
    data = default_benchdata()
    parser.description = (
        "Fit each predictor kind on N random archs of a table and rank T held-out ones, for several N and seeds; "
        "report mean and std of Kendall tau and Spearman per N, beside a published curve (NASLib's XGBoost on "
        "NAS-Bench-201 by default). Writes predictor_curve.csv and predictor_curve.png to --out. Progress lines "
        "go to stderr."
    )
    add_table_arguments(parser, str(data / "nb201_cifar10.csv"), "CSV, JSONL or Parquet table")
    parser.add_argument("--metric", default="cifar10_test_acc", help="metric column to predict")
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=list(DEFAULT_SIZES), metavar="N", help="training-set sizes"
    )
    parser.add_argument("--test", type=int, default=200, help="held-out archs per seed")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..SEEDS-1 (a new random split each)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=list(DEFAULT_KINDS),
        metavar="KIND",
        help=f"predictor kinds, from: {', '.join(predictor_kinds())}",
    )
    parser.add_argument(
        "--target",
        default="rank",
        choices=list(TARGETS),
        help="fit on the training archs' normalized ranks or on the raw metric",
    )
    parser.add_argument(
        "--reference",
        default=str(data / REFERENCE_FILE),
        help="NASLib-style summary CSV with a published tau per training size; 'none' to skip",
    )
    parser.add_argument("--reference-space", default="nasbench201", help="search_space rows of --reference")
    parser.add_argument("--reference-dataset", default="cifar10", help="dataset rows of --reference")
    parser.add_argument("--out", default="runs/bench/predictor", help="folder for the CSV and PNG")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=lambda args: emit_report(args, _predictor(args)))

    parser = action("latency-transfer", "few-shot latency prediction on an unseen device (leave one device out)")
    parser.description = (
        "Hold out each latency column in turn, measure K archs on it and predict the rest from the other devices' "
        "latencies and arch features; report mean/median Spearman per K and per device beside HELP's 0.932 at "
        "K=10. Writes latency_transfer.csv and latency_transfer.png to --out."
    )
    add_table_arguments(
        parser,
        str(default_benchdata() / "derived" / "nb201_latency_help.csv"),
        "CSV, JSONL or Parquet table with one <device>_ms column per device",
    )
    parser.add_argument(
        "--devices", nargs="+", default=None, metavar="COLUMN", help="latency columns (default: every *_ms column)"
    )
    parser.add_argument(
        "--ks", nargs="+", type=int, default=list(DEFAULT_KS), metavar="K", help="archs measured on the new device"
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..SEEDS-1 choose the measured archs")
    parser.add_argument(
        "--features",
        default="counts",
        choices=list(FEATURES),
        help="arch features beside the source devices: op counts (or numeric choices), the whole encoding, none",
    )
    parser.add_argument(
        "--hold-out",
        default="device",
        choices=list(HOLD_OUT),
        help="'device': also drop the held-out column's other batch sizes (<device>_<batch>_ms) from the sources",
    )
    parser.add_argument("--out", default="runs/bench/latency-transfer", help="folder for the CSV and PNG")
    parser.set_defaults(func=lambda args: emit_report(args, _latency_transfer(args)))
