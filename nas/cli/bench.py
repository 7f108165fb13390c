"""``nas bench search | predictor | latency-transfer``: measure search strategies, accuracy predictors and latency
transfer on tabular benchmarks (NAS-Bench-201 by default; any table of the same shape through the flags)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from nas.cli.predictor import action_adder
from nas.search.samplers import SAMPLERS
from nas.tabular import add_table_arguments, arch_format
from search_spaces import ConfigError

__all__ = ["add_bench_commands", "benchdata_path"]

_BENCH_HELP = """\
Tabular benchmarks: every architecture's metrics are rows of a table, so strategies and predictors can be
compared over many seeds in seconds. Defaults read NAS-Bench-201 (CIFAR-10 test accuracy of all 15,625 cells)
and HELP's measured NB201 latencies from $NAS_BENCHDATA (default ../shared/benchdata). Any table of the same shape
works: --table, --arch-columns (the columns that are the architecture choices, or one arch-string column with
--arch-format nb201), --metric and --latency-column are arguments. Results go to runs/bench/<action>-<time>/."""


def benchdata_path(*parts: str) -> str:
    """A file under ``$NAS_BENCHDATA`` (default: ``../shared/benchdata`` beside the project)."""
    from nas.tabular.predictor import default_benchdata

    return str(default_benchdata().joinpath(*parts))


def _out_dir(args: argparse.Namespace, action: str) -> Path:
    if args.out:
        return Path(args.out)
    return Path("runs") / "bench" / datetime.now().strftime(f"{action}-%Y%m%d-%H%M%S")


def _latency_limit(text: str | None, latencies: Any) -> float | None:
    import numpy as np

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


def _cmd_search(args: argparse.Namespace) -> dict[str, Any]:
    from nas.tabular.outputs import write_search_outputs
    from nas.tabular.search import BenchProblem, run_bench
    from search_spaces.table import read_arch_table

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


def add_bench_commands(command: Any, emit: Any) -> None:
    """Register ``nas bench`` and its actions on the top-level parser."""
    from nas.tabular.latency import add_latency_transfer_action
    from nas.tabular.predictor import add_predictor_action

    parser = command("bench", "search, predictors and latency transfer on NAS tables", _BENCH_HELP)
    action = action_adder(parser)
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
        help=f"samplers to compare, any of {', '.join(SAMPLERS)} (random search's exact expectation is always "
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
    search.set_defaults(func=lambda a: emit(a, _cmd_search(a)))
    add_predictor_action(action, emit)
    add_latency_transfer_action(action, emit)
