"""``nas bench search``: exact random baseline, strategies on a small full table, budgets, two objectives, CLI."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from nas.cli import main
from nas.tabular.benchdata import benchdata_path
from nas.tabular.search import BenchProblem, expected_best_of_n, regret_curve, run_bench, run_strategy
from search_spaces import ConfigError, UnknownNameError
from search_spaces.table import read_arch_table


def test_expected_best_of_n_equals_enumeration():
    values = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    for n in range(1, 7):
        draws = list(itertools.combinations(values, n))
        assert expected_best_of_n(values, [n])[0] == pytest.approx(np.mean([max(d) for d in draws]))
        assert expected_best_of_n(values, [n], maximize=False)[0] == pytest.approx(np.mean([min(d) for d in draws]))
    with pytest.raises(ConfigError, match=r"within 1\.\.6"):
        expected_best_of_n(values, [7])


def test_random_baseline_matches_the_published_nb201_figures():
    table = read_arch_table(benchdata_path("nb201_cifar10.csv"), ["arch_str"], ["cifar10_test_acc"], "nb201")
    problem = BenchProblem(table, "cifar10_test_acc")
    assert problem.optimum() == pytest.approx(94.37, abs=0.005)
    best = expected_best_of_n(problem.scored(), [50, 100, 300])
    assert best == pytest.approx([93.69, 93.85, 94.04], abs=0.01)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    """4 x 4 x 4 = 64 archs; accuracy rises with width and kernel, latency with both, depth adds noise."""
    rng = np.random.default_rng(0)
    rows = []
    for width, kernel, depth in itertools.product((8, 16, 24, 32), (1, 3, 5, 7), (1, 2, 3, 4)):
        rows.append(
            {
                "width": width,
                "kernel": kernel,
                "depth": depth,
                "acc": 50 + width + 2 * kernel + rng.normal(0, 0.05),
                "ms": width * kernel * depth / 10 + 1,
            }
        )
    path = tmp_path_factory.mktemp("bench") / "tiny.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _table(path):
    return read_arch_table(path, ["width", "kernel", "depth"], ["acc", "ms"])


@pytest.mark.parametrize("strategy", ["predictor", "evolution", "random", "nsga2"])
def test_strategies_are_seeded_and_regret_falls_to_zero(tiny_table, strategy):
    problem = BenchProblem(_table(tiny_table), "acc")
    first = run_strategy(problem, strategy, seed=3, queries=30, population=8)
    assert first.tolist() == run_strategy(problem, strategy, seed=3, queries=30, population=8).tolist()
    regret = regret_curve(problem, first)
    assert np.all(np.diff(regret) <= 0) and regret[-1] >= 0
    if strategy == "predictor":  # a tactic that refits on what it saw proposes no arch twice
        assert len(set(first.tolist())) == len(first)
        everything = run_strategy(problem, strategy, seed=0, queries=64, population=8)
        assert regret_curve(problem, everything)[-1] == 0


def test_predictor_tactic_beats_exact_random_on_a_learnable_table(tiny_table):
    problem = BenchProblem(_table(tiny_table), "acc")
    run = run_bench(problem, ["predictor"], seeds=4, queries=20, population=8)
    assert run.random_expected is not None
    assert run.curves["predictor"].mean(axis=0)[-1] < 0.5 * run.random_expected[-1]


def test_latency_budget_measures_regret_to_the_constrained_optimum(tiny_table):
    table = _table(tiny_table)
    limit = float(np.median(table.column("ms")))
    problem = BenchProblem(table, "acc", latency="ms", latency_limit=limit)
    feasible = table.column("ms") <= limit
    assert problem.optimum() == table.column("acc")[feasible].max() < table.column("acc").max()
    rows = run_strategy(problem, "predictor", seed=0, queries=40, population=8)
    assert regret_curve(problem, rows)[-1] >= 0
    assert feasible.sum() == 32 and feasible[rows[:32]].all()  # random start and proposals keep to the budget
    assert not feasible[rows[32:]].any()  # until no feasible arch is left
    with pytest.raises(ConfigError, match="fastest takes"):
        BenchProblem(table, "acc", latency="ms", latency_limit=0.01)


def test_two_objectives_reach_the_exact_front(tiny_table):
    problem = BenchProblem(_table(tiny_table), "acc", latency="ms", two_objectives=True)
    run = run_bench(problem, ["predictor", "random"], seeds=2, queries=64, population=8)
    for curve in run.curves.values():
        assert np.all(np.diff(curve, axis=1) >= -1e-12) and np.all(curve <= 1 + 1e-12)
    # the tactic never repeats an arch, so 64 queries are the whole table and its exact front
    assert run.curves["predictor"][:, -1] == pytest.approx(1.0)
    assert run.random_expected is None


def test_bad_strategy_and_budget_are_config_errors(tiny_table):
    problem = BenchProblem(_table(tiny_table), "acc")
    with pytest.raises(UnknownNameError, match=r"valid strategys: .*predictor"):
        run_bench(problem, ["annealing"], seeds=1, queries=5)
    with pytest.raises(ConfigError, match="exceeds the table's 64"):
        run_bench(problem, ["random"], seeds=1, queries=65)


def test_cli_writes_curves_plot_and_summary(tiny_table, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["bench", "search", "--table", str(tiny_table), "--arch-columns", "width", "kernel", "depth"]
    args += ["--arch-format", "none", "--metric", "acc", "--seeds", "2", "--queries", "16", "--population", "8"]
    assert main([*args, "--strategies", "predictor", "random", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["optimum"] == pytest.approx(_table(tiny_table).column("acc").max())
    summary = json.loads((out / "summary.json").read_text())
    assert {row["strategy"] for row in summary["checkpoints"]} == {"predictor", "random"}
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 2 * 16 and (out / "regret.png").stat().st_size > 1000
    assert math.isclose(curves["random_exact_regret"].iloc[-1], report["random_exact@16"], abs_tol=1e-3)

    assert main([*args, "--latency-column", "ms", "--latency-budget", "fast", "--out", str(tmp_path / "x")]) == 2
    assert "'fast' is neither 'median' nor a number" in capsys.readouterr().err
    assert main([*args, "--metric", "top1", "--out", str(tmp_path / "y")]) == 2
    assert "no column 'top1'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
