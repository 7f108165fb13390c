"""Search strategies on NAS-Bench-201 (CIFAR-10 test accuracy, HELP's measured latencies), 20 seeds x 300 queries:

1. one objective: regret to the optimum (94.37) vs random search's exact expected regret, at 50..300 queries;
2. the same under a latency budget (the median cell's latency on raspi4 and on titan_rtx_1): regret to the
   constrained optimum;
3. two objectives (accuracy, latency on raspi4 / titan_rtx_1): hypervolume ratio to the table's exact front
   (reference: the table's worst accuracy and worst latency), with sampled random search as the baseline.

Run: bash .ci/venv python benchmarks/nb201_search.py [--seeds 20] [--queries 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

from nas.tabular.benchdata import benchdata_path
from nas.tabular.outputs import write_search_outputs
from nas.tabular.search import BenchProblem, run_bench
from search_spaces.table import read_arch_table

DEVICES = ("raspi4_ms", "titan_rtx_1_ms")


def problems() -> dict[str, BenchProblem]:
    """One objective, the same under each device's median latency, and two objectives per device."""
    accuracy = read_arch_table(benchdata_path("nb201_cifar10.csv"), ["arch_str"], ["cifar10_test_acc"], "nb201")
    latency = read_arch_table(benchdata_path("derived", "nb201_latency_help.csv"), ["arch_str"], list(DEVICES), "nb201")
    table = accuracy.join(latency)
    found = {"unconstrained": BenchProblem(table, "cifar10_test_acc")}
    for device in DEVICES:
        limit = float(np.median(table.column(device)))
        found[f"{device}<=median"] = BenchProblem(table, "cifar10_test_acc", latency=device, latency_limit=limit)
    for device in DEVICES:
        found[f"two_objectives_{device}"] = BenchProblem(table, "cifar10_test_acc", latency=device, two_objectives=True)
    return found


def measure(
    seeds: int, queries: int, strategies: Sequence[str], names: Sequence[str] | None = None, progress: bool = False
) -> dict[str, dict]:
    """Each problem (or those in ``names``) searched by ``strategies`` (two objectives add NSGA-II and random
    search, and skip evolution) over seeds ``0..seeds-1``; the checkpoints from 50 queries on, by problem."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, problem in problems().items():
            if names is not None and name not in names:
                continue
            chosen = list(strategies)
            if problem.two_objectives:
                chosen = [s for s in [*chosen, "nsga2", "random"] if s != "evolution"]
            run = run_bench(problem, chosen, seeds, queries, progress=progress)
            summary = write_search_outputs(run, Path(folder) / name, {"seeds": seeds})
            keep = ("regret_mean", "regret_se", "random_exact_regret", "ratio_to_random", "hypervolume_ratio_mean",
                    "hypervolume_ratio_se")  # fmt: skip
            results[name] = {
                "latency_limit_ms": problem.latency_limit,
                "optimum": summary["optimum"],
                "seconds": summary["seconds"],
                "checkpoints": [
                    {"strategy": r["strategy"], "queries": r["queries"], **{k: r[k] for k in keep if k in r}}
                    for r in summary["checkpoints"]
                    if r["queries"] >= 50
                ],
                **{k: summary[k] for k in ("half_random_regret_everywhere",) if k in summary},
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--strategies", nargs="+", default=["predictor", "evolution"])
    args = parser.parse_args()
    results = measure(args.seeds, args.queries, args.strategies, progress=True)
    for name, result in results.items():
        print(name, result.get("half_random_regret_everywhere"), flush=True)
        for row in result["checkpoints"]:
            print("  ", row, flush=True)
    print("recorded in", record("nb201_search", {"seeds": args.seeds, "queries": args.queries, "problems": results}))


if __name__ == "__main__":
    main()
