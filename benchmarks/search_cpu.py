"""Search benchmarks on this CPU, each against a baseline measured in the same run:

1. predictor-only evaluation throughput (featurize + predictor + table latency + peak memory), vectorized per
   batch vs one candidate at a time;
2. single-budget convergence: min predicted loss subject to latency <= the median subnet's, regularized evolution
   vs random search, time to come within 1% of the best value any run found (reference: 2,000-trial runs; 3 seeds);
3. front quality: NSGA-II vs random search, 300 predictor evaluations, 5 seeds, hypervolume ratio;
4. supernet-in-the-loop: optimizer overhead share of wall time, and Ray throughput with 1 vs 2 workers;
5. front quality on real evaluations: the predictor-guided tactic vs random search, 300 supernet evaluations each
   (validation loss after BN recalibration on 128 images, table latency), 5 seeds, hypervolume ratio and whether
   the tactic's front dominates random's.

Needs a supernet, a predictor fitted on its subnets and this CPU's latency table for the supernet's space:
  bash .ci/venv python benchmarks/search_cpu.py --supernet S.pt --predictor DIR --latency-table T.json
  bash .ci/venv python benchmarks/search_cpu.py --supernet S.pt --latency-table T.json --parts front_real
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, record

from nas.profile.tables import LatencyModel, random_archs
from nas.search.config import EvaluationConfig, ExecutionConfig
from nas.search.driver import JOURNAL, SearchConfig, run_search
from nas.search.evaluators import PredictedAccuracy
from nas.supernet import load_supernet
from nas.supernet.families.mobilenetv3.memory import SubnetMemory
from predictors.latency import LatencyTable


def throughput(predictor: PredictedAccuracy, latency: LatencyModel, memory: SubnetMemory, archs: list) -> dict:
    """Candidates scored per minute, batched vs one at a time, on archs neither has seen (per-part caches are
    warmed on other archs first, as a search's first minutes do)."""
    warm, batched_archs, single = archs[:2000], archs[2000:-500], archs[-500:]
    for arch in warm:
        memory.inference_peak_bytes(arch)
        latency.predict([arch])
    started = time.perf_counter()
    for start in range(0, len(batched_archs), 1024):
        batch = batched_archs[start : start + 1024]
        predictor.predict(batch)
        latency.predict(batch)
        [memory.inference_peak_bytes(a) for a in batch]
    batched = len(batched_archs) / (time.perf_counter() - started) * 60
    started = time.perf_counter()
    for arch in single:
        predictor.predict([arch])
        latency.predict([arch])
        memory.inference_peak_bytes(arch)
    one_by_one = len(single) / (time.perf_counter() - started) * 60
    return {
        "batched_per_minute": round(batched),
        "one_at_a_time_per_minute": round(one_by_one),
        "ratio": batched / one_by_one,
    }


def best_curve(run_dir: Path, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Best feasible loss after each trial, and each trial's completion time from the first trial's start."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(run_dir / JOURNAL)))
    trials = optuna.load_study(study_name="search", storage=storage).trials
    start = trials[0].datetime_start
    values = np.array([t.values[0] if t.user_attrs["metrics"]["latency"] <= budget else np.inf for t in trials])
    times = np.array([(t.datetime_complete - start).total_seconds() for t in trials])
    return np.minimum.accumulate(values), times


def convergence(common: dict, budget: float, workdir: Path) -> dict:
    reference_runs = [
        run_search(SearchConfig(**common, sampler=s, trials=2000, seed=9), f"ref-{s}", workdir, progress=False)
        for s in ("evolution", "random")
    ]
    reference = min(best_curve(r.run_dir, budget)[0][-1] for r in reference_runs)
    target = reference * 1.01
    rows = {}
    for sampler in ("evolution", "random"):
        reached = []
        for seed in range(3):
            result = run_search(
                SearchConfig(**common, sampler=sampler, trials=600, seed=seed),
                f"{sampler}{seed}",
                workdir,
                progress=False,
            )
            best, times = best_curve(result.run_dir, budget)
            hit = np.flatnonzero(best <= target)
            reached.append(float(times[hit[0]]) if len(hit) else float("inf"))
        finite = [r for r in reached if np.isfinite(r)]
        rows[sampler] = {
            "seconds_to_1pct": reached,
            "median_seconds": statistics.median(reached) if finite else None,
            "reached": len(finite),
        }
    return {"reference_loss": reference, "target_loss": target, "budget_latency_ms": budget, **rows}


def front_quality(common: dict, workdir: Path) -> dict:
    ratios = []
    for seed in range(5):
        volumes = {}
        for sampler in ("nsga2", "random"):
            config = SearchConfig(
                **{**common, "objectives": ["loss", "latency"]}, sampler=sampler, trials=300, seed=seed
            )
            volumes[sampler] = run_search(config, f"hv-{sampler}{seed}", workdir, progress=False).hypervolume
        ratios.append(volumes["nsga2"] / volumes["random"])
    return {"hypervolume_ratio_nsga2_over_random": ratios, "mean_ratio": statistics.mean(ratios)}


def supernet_loop(supernet: str, table: str, workdir: Path) -> dict:
    rows = {}
    for workers in (1, 2):
        config = SearchConfig(
            objectives=["loss", "latency"],
            supernet=supernet,
            latency_table=table,
            trials=16,
            population=8,
            execution=ExecutionConfig(workers=workers, cpus_per_worker=1.0),
        )
        result = run_search(config, f"loop{workers}", workdir, progress=False)
        rows[f"workers_{workers}"] = {
            "wall_seconds": round(result.wall_seconds, 1),
            "evaluations_per_minute": round(result.trials / result.wall_seconds * 60, 2),
            "optimizer_seconds": round(result.optimizer_seconds, 3),
            "optimizer_share": result.optimizer_seconds / result.wall_seconds,
        }
    rows["speedup_2_over_1"] = rows["workers_2"]["evaluations_per_minute"] / rows["workers_1"]["evaluations_per_minute"]
    return rows


def front_real(supernet: str, table: str, workdir: Path, trials: int, seeds: int) -> dict:
    """Loss (measured on the supernet) vs table latency: the predictor tactic vs random, same reference point."""
    from nas.search.pareto import pareto_mask

    rows = []
    for seed in range(seeds):
        fronts, volumes, seconds = {}, {}, {}
        for sampler in ("predictor", "random"):
            config = SearchConfig(
                objectives=["loss", "latency"],
                supernet=supernet,
                latency_table=table,
                sampler=sampler,
                trials=trials,
                population=20,
                seed=seed,
                evaluation=EvaluationConfig(calibration_images=128),
                execution=ExecutionConfig(workers=2),
            )
            result = run_search(config, f"real-{sampler}{seed}", workdir, progress=False)
            front = pd.read_csv(result.run_dir / "front.csv")[["loss", "latency"]].to_numpy()
            fronts[sampler], volumes[sampler], seconds[sampler] = front, result.hypervolume, result.wall_seconds
        union = np.vstack([fronts["predictor"], fronts["random"]])
        on_union = pareto_mask(union, ["minimize", "minimize"])
        share = float(on_union[: len(fronts["predictor"])].sum() / on_union.sum())
        rows.append(
            {
                "seed": seed,
                "hypervolume_predictor": volumes["predictor"],
                "hypervolume_random": volumes["random"],
                "ratio": volumes["predictor"] / volumes["random"],
                "share_of_joint_front_from_predictor": share,
                "seconds": seconds,
            }
        )
        print(rows[-1], flush=True)
    ratios = [r["ratio"] for r in rows]
    return {"trials": trials, "seeds": rows, "mean_ratio": statistics.mean(ratios), "min_ratio": min(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernet", required=True)
    parser.add_argument("--predictor", help="needed by throughput, convergence and front")
    parser.add_argument("--latency-table", required=True)
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["throughput", "convergence", "front", "loop"],
        choices=["throughput", "convergence", "front", "loop", "front_real"],
        help="which parts to run; results merge into benchmarks/results/search_cpu.json",
    )
    parser.add_argument("--trials", type=int, default=300, help="real evaluations per run (front_real)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds (front_real)")
    args = parser.parse_args()
    supernet = load_supernet(args.supernet)
    space, classes = supernet.space, supernet.num_classes
    table = LatencyTable.load(args.latency_table, space.name)
    latency = LatencyModel(table, space)
    needs_predictor = {"throughput", "convergence", "front"} & set(args.parts)
    if needs_predictor and not args.predictor:
        parser.error(f"--predictor is needed by {', '.join(sorted(needs_predictor))}")
    predictor = PredictedAccuracy(args.predictor, space, classes) if args.predictor else None
    memory = SubnetMemory(space, classes)
    archs = random_archs(space, 20000, seed=0)
    previous = RESULTS / "search_cpu.json"
    results: dict = {}
    if previous.is_file():
        stored = json.loads(previous.read_text())
        kept = ("throughput", "convergence", "front_quality", "supernet_loop", "front_real")
        results = {k: stored[k] for k in kept if k in stored}
    if "throughput" in args.parts:
        assert predictor is not None
        results["throughput"] = throughput(predictor, latency, memory, archs)
        print(results["throughput"], flush=True)
    budget = float(np.median(latency.predict(archs[:500])))
    common = {
        "objectives": ["loss"],
        "budgets": [f"latency={budget}"],
        "predictor": args.predictor,
        "latency_table": args.latency_table,
        "num_classes": classes,
        "space": space.name,
        "population": 50,
        "execution": ExecutionConfig(batch=64),
    }
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        if "convergence" in args.parts:
            results["convergence"] = convergence(common, budget, workdir)
            print(results["convergence"], flush=True)
        if "front" in args.parts:
            results["front_quality"] = front_quality({**common, "budgets": []}, workdir)
            print(results["front_quality"], flush=True)
        if "loop" in args.parts:
            results["supernet_loop"] = supernet_loop(args.supernet, args.latency_table, workdir)
            print(results["supernet_loop"], flush=True)
        if "front_real" in args.parts:
            results["front_real"] = front_real(args.supernet, args.latency_table, workdir, args.trials, args.seeds)
            print(results["front_real"], flush=True)
    print("recorded in", record("search_cpu", results))


if __name__ == "__main__":
    main()
