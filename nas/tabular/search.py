"""Search strategies measured on a table: every query is a lookup, so many seeds cost seconds.

A :class:`BenchProblem` is a table, the metric to optimize and optionally a latency column, used either as a budget
(``latency <= limit``: regret is then measured to the constrained optimum) or as a second objective (hypervolume
ratio to the table's exact Pareto front). Strategies are the search's samplers (``nas.search.samplers``), run by
ask-and-tell on an in-memory Optuna study; the random-search baseline of the single-objective problem is not
sampled but computed exactly: the expected best of N distinct archs drawn uniformly from the table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from scipy.special import gammaln
from tqdm import tqdm

from nas.search.pareto import hypervolume, hypervolume_curve
from nas.search.samplers import SamplerContext, create_sampler, list_samplers
from search_spaces import ConfigError, UnknownNameError
from search_spaces.checks import check_at_least
from search_spaces.table import ArchTable

__all__ = ["BenchProblem", "BenchRun", "expected_best_of_n", "run_bench", "run_strategy"]

CHECKPOINTS = (10, 20, 50, 100, 150, 200, 250, 300, 500, 1000)


@dataclass
class BenchProblem:
    """What is optimized on ``table``: ``metric`` (maximized unless ``minimize``), with an optional latency
    column as a budget (``latency_limit``) or as a second, minimized objective (``two_objectives``)."""

    table: ArchTable
    metric: str
    minimize: bool = False
    latency: str | None = None
    latency_limit: float | None = None
    two_objectives: bool = False

    def __post_init__(self) -> None:
        self.values = self.table.column(self.metric)
        if (self.latency_limit is not None or self.two_objectives) and self.latency is None:
            raise ConfigError("a latency budget or objective needs a latency column", field="latency")
        self.latencies = self.table.column(self.latency) if self.latency else None
        self.feasible = np.ones(len(self.table), dtype=bool)
        if self.latency_limit is not None:
            assert self.latencies is not None
            self.feasible = self.latencies <= self.latency_limit
            if not self.feasible.any():
                raise ConfigError(
                    f"no arch of {self.table.source} has {self.latency} <= {self.latency_limit:g}; the fastest "
                    f"takes {self.latencies.min():g}",
                    field="latency_budget",
                    value=self.latency_limit,
                    allowed=f">= {self.latencies.min():g}",
                )

    @property
    def directions(self) -> list[str]:
        first = "minimize" if self.minimize else "maximize"
        return [first, "minimize"] if self.two_objectives else [first]

    @property
    def sign(self) -> float:
        """+1 when larger metric values are better."""
        return -1.0 if self.minimize else 1.0

    def scored(self) -> np.ndarray:
        """Metric per row with infeasible rows set to the worst feasible value (a search that has found nothing
        feasible yet has the largest regret)."""
        worst = (self.sign * self.values[self.feasible]).min()
        return np.where(self.feasible, self.sign * self.values, worst) * self.sign

    def optimum(self) -> float:
        """The best feasible metric value of the table."""
        best = (self.sign * self.values[self.feasible]).max()
        return float(self.sign * best)

    def reference(self) -> np.ndarray:
        """Hypervolume reference of the two-objective problem: the table's worst metric and worst latency."""
        assert self.latencies is not None
        worst_metric = self.values.max() if self.minimize else self.values.min()
        return np.array([worst_metric, self.latencies.max()])

    def exact_hypervolume(self) -> float:
        """Hypervolume of the table's exact Pareto front."""
        assert self.latencies is not None
        return hypervolume(np.column_stack([self.values, self.latencies]), self.directions, self.reference())


@dataclass
class BenchRun:
    """Per strategy, a (seeds x queries) matrix: regret after each query, or hypervolume ratio for two
    objectives."""

    problem: BenchProblem
    queries: int
    curves: dict[str, np.ndarray]
    seconds: dict[str, float]
    random_expected: np.ndarray | None


def expected_best_of_n(values: np.ndarray, ns: Sequence[int], maximize: bool = True) -> np.ndarray:
    """Exact expected best of ``n`` distinct rows drawn uniformly from ``values``, for each ``n``.

    With the values sorted worst to best, the best of ``n`` draws is the ``k``-th value with probability
    ``C(k-1, n-1) / C(N, n)``.
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if not maximize:
        ordered = ordered[::-1]
    total = len(ordered)
    k = np.arange(1, total + 1)
    out = []
    for n in ns:
        if not 1 <= n <= total:
            raise ConfigError(f"n={n} must be within 1..{total}", field="queries", value=n)
        log_p = np.full(total, -np.inf)
        valid = k >= n
        log_p[valid] = _log_comb(k[valid] - 1, n - 1) - _log_comb(np.array([total]), n)[0]  # P(best is the k-th worst)
        out.append(float(np.sum(np.exp(log_p) * ordered)))
    return np.array(out)


def _log_comb(n: np.ndarray, k: int) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def run_strategy(problem: BenchProblem, strategy: str, seed: int, queries: int, population: int = 20) -> np.ndarray:
    """Row indices queried, in order (``queries`` of them; an asked arch the table lacks is not a query)."""
    table, space = problem.table, problem.table.space
    known, violations = None, None
    if problem.latencies is not None:
        latencies = problem.latencies

        def known(archs: Sequence[Any]) -> np.ndarray:
            rows = [table.row(arch) for arch in archs]
            cheap = latencies[rows] if problem.two_objectives else np.full(len(rows), np.nan)
            return np.column_stack([np.full(len(rows), np.nan), cheap])[:, : len(problem.directions)]

        if problem.latency_limit is not None:
            limit = problem.latency_limit
            violations = lambda archs: (latencies[[table.row(a) for a in archs]] / limit - 1.0)[:, None]  # noqa: E731
    context = SamplerContext(seed, tuple(problem.directions), population, space, known, violations, table.archs)
    sampler = create_sampler(strategy, context)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=problem.directions, sampler=sampler)
    decisions = space.decisions()
    queried: list[int] = []
    asks = 0
    while len(queried) < queries:
        asks += 1
        if asks > 20 * queries:
            raise ConfigError(
                f"strategy {strategy!r} proposed {asks - len(queried)} archs {table.source} lacks; the table must "
                "cover (nearly) every combination of its arch columns",
                field="table",
                value=table.source,
            )
        trial = study.ask()
        arch = space.from_genes({d.label: trial.suggest_categorical(d.label, list(d.choices)) for d in decisions})
        if arch not in table:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        row = table.row(arch)
        values = [float(problem.values[row])]
        if problem.two_objectives:
            values.append(float(problem.latencies[row]))  # type: ignore[index]
        if problem.latency_limit is not None:
            trial.set_constraint("latency", float(problem.latencies[row] / problem.latency_limit - 1.0))  # type: ignore[index]
        study.tell(trial, values)
        queried.append(row)
    return np.array(queried)


def regret_curve(problem: BenchProblem, rows: np.ndarray) -> np.ndarray:
    """Distance to the (constrained) optimum of the best feasible value after each query."""
    scored = problem.sign * problem.scored()[rows]
    return problem.sign * problem.optimum() - np.maximum.accumulate(scored)


def hypervolume_ratio_curve(problem: BenchProblem, rows: np.ndarray) -> np.ndarray:
    """Hypervolume of the queried points over the exact front's, after each query."""
    assert problem.latencies is not None
    points = np.column_stack([problem.values[rows], problem.latencies[rows]])
    return hypervolume_curve(points, problem.directions, problem.reference()) / problem.exact_hypervolume()


def run_bench(
    problem: BenchProblem,
    strategies: Sequence[str],
    seeds: int,
    queries: int,
    population: int = 20,
    progress: bool = False,
) -> BenchRun:
    """Every strategy for seeds ``0..seeds-1``; the curves, the seconds each strategy took and, for one objective,
    random search's exact expected regret."""
    for name in strategies:
        if name not in list_samplers():
            raise UnknownNameError("strategy", name, list_samplers())
    check_at_least(seeds=(seeds, 1), queries=(queries, 1), population=(population, 2))
    if queries > len(problem.table):
        raise ConfigError(
            f"queries={queries} exceeds the table's {len(problem.table)} archs",
            field="queries",
            value=queries,
            allowed=f"1..{len(problem.table)}",
        )
    bar = None
    if progress:
        bar = tqdm(total=len(strategies) * seeds, desc="bench search", unit="run")
    curves, seconds = {}, {}
    for name in strategies:
        started = time.perf_counter()
        rows = []
        for seed in range(seeds):
            queried = run_strategy(problem, name, seed, queries, population)
            rows.append(
                hypervolume_ratio_curve(problem, queried) if problem.two_objectives else regret_curve(problem, queried)
            )
            if bar is not None:
                bar.update(1)
        curves[name], seconds[name] = np.array(rows), time.perf_counter() - started
    if bar is not None:
        bar.close()
    random_expected = None
    if not problem.two_objectives:
        best = expected_best_of_n(problem.scored(), range(1, queries + 1), maximize=not problem.minimize)
        random_expected = problem.sign * (problem.optimum() - best)
    return BenchRun(problem, queries, curves, seconds, random_expected)


def summary_rows(run: BenchRun) -> list[dict[str, Any]]:
    """One row per strategy and query count: mean and standard error over seeds (and the exact random
    baseline's regret with our regret's ratio to it, for one objective)."""
    rows = []
    measure = "hypervolume_ratio" if run.problem.two_objectives else "regret"
    for name, curve in run.curves.items():
        seeds = curve.shape[0]
        for index in range(run.queries):
            column = curve[:, index]
            row: dict[str, Any] = {
                "strategy": name,
                "queries": index + 1,
                f"{measure}_mean": float(column.mean()),
                f"{measure}_se": float(column.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else 0.0,
            }
            if run.random_expected is not None:
                baseline = float(run.random_expected[index])
                row["random_exact_regret"] = baseline
                row["ratio_to_random"] = row["regret_mean"] / baseline if baseline > 0 else None
            rows.append(row)
    return rows


def checkpoint_rows(run: BenchRun) -> list[dict[str, Any]]:
    """The summary rows at the reporting budgets (10, 20, 50, 100, ...) and at the last query."""
    marks = {q for q in CHECKPOINTS if q <= run.queries} | {run.queries}
    return [row for row in summary_rows(run) if row["queries"] in marks]
