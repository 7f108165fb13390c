"""Re-run the headline figures and compare each with its record in ``benchmarks/results/``.

Each figure is re-measured the way its benchmark measured it and printed beside the recorded figure: the recorded
mean and standard deviation over its runs (seeds, thread counts), the figure now, and whether the difference is
within the recorded spread: twice the standard deviation of a difference of two means,
``2 * std * sqrt(1/runs_recorded + 1/runs_now)``, never narrower than the figure's resolution (one test image for
an accuracy on digits). ``--quick`` re-runs one seed of the expensive figures (about 15 minutes on 2 cores);
without it every recorded seed is re-run. The report is also written to ``runs/reproduce-<time>/report.json``.

Run: bash .ci/venv python -m benchmarks reproduce [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, provenance, spread

DIGITS_TEST_IMAGES = 360
"""The digits test split: one image is the resolution of a test accuracy."""


@dataclass(frozen=True)
class Spread:
    """A figure over ``runs`` runs: mean and sample standard deviation (0 for one run)."""

    mean: float
    std: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        figures = spread([float(v) for v in values])
        return cls(figures["mean"], figures["std"], len(values))


def _runs(count: int) -> str:
    return f"{count} run" + ("" if count == 1 else "s")


@dataclass(frozen=True)
class Comparison:
    """One figure, recorded and now."""

    figure: str
    recorded: Spread
    now: Spread
    resolution: float
    unit: str = ""

    @property
    def tolerance(self) -> float:
        """How far the two means may differ by chance: two standard deviations of their difference."""
        noise = 2 * self.recorded.std * math.sqrt(1 / self.recorded.runs + 1 / self.now.runs)
        return max(noise, self.resolution)

    @property
    def within(self) -> bool:
        return abs(self.now.mean - self.recorded.mean) <= self.tolerance * (1 + 1e-9)

    def line(self) -> str:
        scale = 100.0 if self.unit == "%" else 1.0

        def show(value: float) -> str:
            return f"{value * scale:.4g}{self.unit}"

        recorded = f"{show(self.recorded.mean)} ± {show(self.recorded.std)} ({_runs(self.recorded.runs)})"
        now = f"{show(self.now.mean)} ({_runs(self.now.runs)})"
        verdict = "within" if self.within else "OUTSIDE"
        return f"{self.figure:<58} {recorded:<32} {now:<22} {verdict} (± {show(self.tolerance)})"


@dataclass(frozen=True)
class Context:
    """What every check is given: ``quick``, the prefix of the run folders it creates, where the records are."""

    quick: bool
    prefix: str
    results: Path = RESULTS

    def recorded(self, stem: str) -> dict[str, Any]:
        """The record ``<results>/<stem>.json``."""
        return json.loads((self.results / f"{stem}.json").read_text())


@dataclass(frozen=True)
class Check:
    """A group of figures measured by one run of a benchmark."""

    name: str
    minutes: float  # on 2 cores, with --quick
    run: Callable[[Context], list[Comparison]]
    help: str


CHECKS: dict[str, Check] = {}


def check(name: str, minutes: float, help: str) -> Callable:
    """Register the decorated function as the check ``name``."""

    def register(function: Callable[[Context], list[Comparison]]) -> Callable:
        CHECKS[name] = Check(name, minutes, function, help)
        return function

    return register


@check("quickstart", 6, "nas quickstart: largest, smallest and worst random subnet's test accuracy")
def quickstart_figures(context: Context) -> list[Comparison]:
    import quickstart

    record = context.recorded("quickstart")
    seeds = record["seeds"][:1] if context.quick else record["seeds"]
    runs = [quickstart.measure(seed, record["threads"], f"{context.prefix}-quickstart-s{seed}") for seed in seeds]
    return [
        Comparison(
            f"quickstart {figure.replace('_', ' ')}",
            Spread.of([run[figure] for run in record["runs"]]),
            Spread.of([run[figure] for run in runs]),
            1 / DIGITS_TEST_IMAGES,
            "%",
        )
        for figure in quickstart.FIGURES
    ]


@check("spiking", 5, "nas quickstart --spiking: the best pick's test accuracy at T <= 4")
def spiking_figures(context: Context) -> list[Comparison]:
    import spiking_cpu

    record = context.recorded("spiking_cpu")
    settings = [(run["seed"], run["threads"]) for run in record["runs"]]
    if context.quick:
        settings = [(min(record["seeds"]), max(record["threads"]))]
    runs = [
        spiking_cpu.measure_quickstart(seed, threads, f"{context.prefix}-spiking-s{seed}-t{threads}", record["epochs"])
        for seed, threads in settings
    ]
    return [
        Comparison(
            "spiking quickstart best test accuracy at T <= 4",
            Spread.of([run["best_test_accuracy"] for run in record["runs"]]),
            Spread.of([run["best"]["test_accuracy"] for run in runs]),
            1 / DIGITS_TEST_IMAGES,
            "%",
        )
    ]


@check("extraction_parity", 1, "the largest and random ofa_mbv3 subnets: supernet vs extracted logits")
def extraction_parity(context: Context) -> list[Comparison]:
    import extraction

    record = context.recorded("extraction")["parity"]
    now = extraction.parity(record["archs"] if not context.quick else min(record["archs"], 20))
    return [
        Comparison(
            "extraction: worst |supernet - extracted| logit",
            Spread(record["max_abs_diff"], 0.0, 1),
            Spread(now["max_abs_diff"], 0.0, 1),
            record["tolerance"],
        )
    ]


@check("nb201_predictor", 0.2, "NAS-Bench-201 accuracy predictor: Kendall tau by training-set size")
def nb201_predictor_figures(context: Context) -> list[Comparison]:
    import nb201_predictor

    record = context.recorded("nb201_predictor")
    now = {row["train_size"]: row for row in nb201_predictor.measure()["results"]}
    comparisons = []
    for row in record["results"]:
        kind, size = row["best_kind"], row["train_size"]
        runs = int(row["seeds"])
        comparisons.append(
            Comparison(
                f"NB201 {kind} Kendall tau, {size} training cells",
                Spread(row[f"{kind}_tau"], row[f"{kind}_tau_std"], runs),
                Spread(now[size][f"{kind}_tau"], now[size][f"{kind}_tau_std"], int(now[size]["seeds"])),
                1e-4,
            )
        )
    return comparisons


@check("nb201_search", 1, "NAS-Bench-201 search: regret after 300 queries (evolution; with the predictor unless quick)")
def nb201_search_figures(context: Context) -> list[Comparison]:
    import nb201_search

    record = context.recorded("nb201_search")
    strategies = ["evolution"] if context.quick else ["evolution", "predictor"]
    names = [name for name in record["problems"] if not name.startswith("two_objectives")]
    now = nb201_search.measure(record["seeds"], record["queries"], strategies, names)
    comparisons = []
    for name in names:
        for strategy in strategies:
            before = _last_checkpoint(record["problems"][name], strategy)
            after = _last_checkpoint(now[name], strategy)
            comparisons.append(
                Comparison(
                    f"NB201 {name} regret of {strategy} at {before['queries']} queries",
                    _from_standard_error(before, record["seeds"]),
                    _from_standard_error(after, record["seeds"]),
                    0.01,
                )
            )
    return comparisons


def _last_checkpoint(problem: dict[str, Any], strategy: str) -> dict[str, Any]:
    return max((row for row in problem["checkpoints"] if row["strategy"] == strategy), key=lambda r: r["queries"])


def _from_standard_error(row: dict[str, Any], seeds: int) -> Spread:
    return Spread(row["regret_mean"], row["regret_se"] * math.sqrt(seeds), seeds)


@check("latency_table", 4, "a CPU latency table of ofa_mbv3_small: MAPE and Spearman over the noise floor's")
def latency_table_figures(context: Context) -> list[Comparison]:
    import latency_cpu

    records = [context.recorded(f"latency_cpu_ofa_mbv3_small_{mode}") for mode in ("quiet", "busy")]
    first = records[0]
    now = latency_cpu.measure(
        first["space"], first["device"], first["threads"], first["subnets"], 40, busy_profile=False
    )
    return [
        Comparison(
            f"latency table {figure.replace('_', ' ')} (cpu, ofa_mbv3_small)",
            Spread.of([record[figure] for record in records]),
            Spread.of([now[figure]]),
            0.05,
        )
        for figure in ("mape_over_floor", "spearman_over_floor")
    ]


def run_checks(names: Sequence[str], context: Context, out: Path) -> list[Comparison]:
    """Run the checks ``names`` in order, printing each comparison as it comes; write ``<out>/report.json``."""
    comparisons: list[Comparison] = []
    report: dict[str, Any] = {"quick": context.quick, "results": str(context.results), **provenance(), "checks": {}}
    for name in names:
        started = time.perf_counter()
        print(f"[{name}] {CHECKS[name].help} ...", flush=True)
        found = CHECKS[name].run(context)
        for comparison in found:
            print("  " + comparison.line(), flush=True)
        comparisons.extend(found)
        report["checks"][name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "figures": [{**asdict(c), "tolerance": c.tolerance, "within": c.within} for c in found],
        }
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return comparisons


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="checks: " + "; ".join(f"{c.name} ({c.help}, ~{c.minutes:g} min quick)" for c in CHECKS.values()),
    )
    parser.add_argument("--quick", action="store_true", help="one seed of the expensive figures (~15 min)")
    parser.add_argument("--only", nargs="+", choices=sorted(CHECKS), metavar="NAME", help="run only these checks")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the records to compare with (%(default)s)")
    parser.add_argument("--out", type=Path, help="report folder (default: runs/reproduce-<time>)")
    args = parser.parse_args(argv)
    names = args.only or list(CHECKS)
    out = args.out or ROOT / "runs" / f"reproduce-{time.strftime('%Y%m%d-%H%M%S')}"
    comparisons = run_checks(names, Context(args.quick, out.name, args.results), out)
    outside = [c for c in comparisons if not c.within]
    print(f"{len(comparisons) - len(outside)} of {len(comparisons)} figures within their recorded spread; "
          f"report: {out / 'report.json'}")  # fmt: skip
    for comparison in outside:
        print(f"OUTSIDE: {comparison.figure}: recorded {comparison.recorded.mean:.4g}, now {comparison.now.mean:.4g}")
    return 1 if outside else 0


if __name__ == "__main__":
    raise SystemExit(main())
