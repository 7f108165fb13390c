"""Predictor-only search rate against raw Optuna, side by side: trials per minute of a 2,000-trial NSGA-II search.

Ours: ``run_search`` on ``ofa_mbv3`` (46 decisions) with a predicted objective (a predictor fitted on DyNAS-T's real
ImageNet accuracies, ../shared/benchdata/ofa_imagenet) and MACs, the study kept in its journal file. Baseline in the
same run: Optuna's own NSGA-II with in-memory storage, asking the same 46 categorical decisions and told two values
that cost nothing to compute, i.e. the fastest any Optuna-based search can go here. Seeds 0, 1 and 2; the record
keeps each seed's rates and the ratio's mean, standard deviation and worst (target: ours >= 60 % of raw Optuna's).

Run: bash .ci/venv python benchmarks/search_rate.py [--trials 2000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import nas
from nas.search.config import ExecutionConfig
from nas.search.driver import SearchConfig, run_search

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT.parent / "shared" / "benchdata" / "ofa_imagenet" / "mbnv3w10_linasga_acc.csv"
SPACE = "ofa_mbv3"
SEEDS = (0, 1, 2)
TARGET = 0.6


def raw_optuna_rate(trials: int, seed: int, population: int) -> float:
    """Trials per minute of Optuna's NSGA-II in memory over the space's decisions, objectives free."""
    decisions = nas.get_space(SPACE).decisions()
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        genes = [trial.suggest_categorical(d.label, list(d.choices)) for d in decisions]
        study.tell(trial, [float(genes[0]), float(len(genes))])
    return trials / (time.perf_counter() - started) * 60


def our_rate(trials: int, seed: int, population: int, predictor: Path, work: Path) -> dict[str, float]:
    """Trials per minute of ``nas search`` with the predictor and MACs (journal storage), and its optimizer share."""
    config = SearchConfig(
        objectives=("accuracy", "macs"),
        sampler="nsga2",
        trials=trials,
        population=population,
        seed=seed,
        space=SPACE,
        predictor=str(predictor),
        num_classes=1000,
        execution=ExecutionConfig(ray=False),
    )
    result = run_search(config, f"rate-s{seed}", work, progress=False)
    return {
        "trials_per_minute": trials / result.wall_seconds * 60,
        "wall_s": round(result.wall_seconds, 2),
        "optimizer_s": round(result.optimizer_seconds, 2),
    }


def fit_predictor(folder: Path) -> None:
    """The accuracy predictor the search scores candidates with (DyNAS-T's table, the default kind)."""
    command = [
        str(ROOT / ".venv" / "bin" / "nas"), "predictor", "fit", "--table", str(TABLE), "--space", SPACE,
        "--target", "Top-1 Acc (%)", "--num-classes", "1000", "--out", str(folder), "--json",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.mean(values), 3),
        "std": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
        "worst": round(min(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--population", type=int, default=50)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        fit_predictor(work / "predictor")
        for seed in SEEDS:
            raw = raw_optuna_rate(args.trials, seed, args.population)
            ours = our_rate(args.trials, seed, args.population, work / "predictor", work)
            runs.append({"seed": seed, "raw_optuna_trials_per_minute": round(raw), **ours})
            runs[-1]["ratio"] = round(ours["trials_per_minute"] / raw, 3)
            print(
                f"seed {seed}: ours {ours['trials_per_minute']:,.0f}/min, raw Optuna {raw:,.0f}/min "
                f"({runs[-1]['ratio']:.2f})",
                flush=True,
            )
    ratios = [run["ratio"] for run in runs]
    path = record(
        "search_rate",
        {
            "space": SPACE,
            "trials": args.trials,
            "population": args.population,
            "seeds": list(SEEDS),
            "runs": runs,
            "ratio": _spread(ratios),
            "target_ratio": TARGET,
            "met": min(ratios) >= TARGET,
        },
    )
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
