"""The quickstart: train a supernet on the embedded digits data, measure subnets after BN recalibration, then
search it on this CPU under a latency and a peak-memory budget and verify the picks by real measurement."""

from __future__ import annotations

import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from nas.data import DataSplits
from nas.export.exporter import export_subnets
from nas.profile.tables import measure_subnets as measure_end_to_end
from nas.profile.tables import profile_table, random_archs, table_reference
from nas.profile.timers import CpuTimer, Timer
from nas.profile.validation import validate_table, validation_text
from nas.search.config import ExecutionConfig, SearchConfig
from nas.search.driver import run_search
from nas.supernet.base import Supernet
from nas.supernet.latency import LatencyModel
from nas.supernet.registry import cost_model
from nas.training.config import quickstart_config
from nas.training.evaluation import EvalCache, evaluate, file_digest
from nas.training.trainer import Trainer
from predictors.latency import LatencyTable
from search_spaces import SearchSpace

__all__ = ["QuickstartTargets", "measure_subnets", "run_quickstart", "search_and_verify"]


@dataclass(frozen=True)
class QuickstartTargets:
    """The accuracies the quickstart promises (test split, after BN recalibration)."""

    largest: float = 0.985
    smallest: float = 0.975
    random: float = 0.975


def measure_subnets(
    supernet: Supernet,
    data: DataSplits,
    supernet_path: Path,
    random_subnets: int = 20,
    seed: int = 0,
    calibration_images: int = 512,
) -> list[dict[str, Any]]:
    """Test accuracy of the largest, the smallest and ``random_subnets`` seeded random subnets, against the
    quickstart targets; evaluations are cached beside the supernet file."""
    cache = EvalCache(supernet_path.parent / "eval_cache.jsonl", file_digest(supernet_path), data.name)
    space = supernet.space
    rng = random.Random(seed)
    archs = [("largest", space.largest()), ("smallest", space.smallest())]
    archs += [(f"random_{i + 1}", space.sample(rng)) for i in range(random_subnets)]
    targets = QuickstartTargets()
    rows = []
    for label, arch in archs:
        result = evaluate(supernet.eval(), arch, data, "test", calibration_images, cache=cache)
        target = getattr(targets, label if label in ("largest", "smallest") else "random")
        rows.append(
            {
                "subnet": label,
                "test_accuracy": result.accuracy,
                "test_loss": result.loss,
                "target": target,
                "met": result.accuracy >= target,
                "macs": supernet.macs(arch),
                "resolution": int(arch["resolution"]),
                "arch": arch.to_dict(),
            }
        )
    return rows


def search_and_verify(
    supernet: Supernet,
    supernet_path: Path,
    data: DataSplits,
    run_dir: Path,
    trials: int = 24,
    workers: int = 2,
    use_ray: bool = True,
    seed: int = 0,
    progress: bool = True,
    picks: int = 3,
) -> dict[str, Any]:
    """Profile this CPU's latency table (validated against the noise floor; re-profiled once when it fails its
    targets), set budgets at the median latency and peak memory of random subnets, search (validation loss vs
    latency, supernet evaluations on workers), then measure the best picks: test accuracy after BN recalibration
    and end-to-end latency, beside what the search predicted; export each pick (PyTorch + ONNX, parity-checked,
    with its model card) into ``run_dir/export/``."""
    space, classes = supernet.space, supernet.num_classes
    timer = CpuTimer(threads=torch.get_num_threads())
    table, warning = trusted_table(space, timer, classes, seed, progress)
    table_path = table.save(run_dir / "latency" / f"cpu-{space.name}-b1.json")
    sample = random_archs(space, 200, seed)
    peak_memory = cost_model(space, classes).metrics()["peak_memory"]
    latency_budget = float(statistics.median(LatencyModel(table, space).predict(sample)))
    memory_budget = int(statistics.median(peak_memory(arch) for arch in sample))
    config = SearchConfig(
        objectives=("loss", "latency"),
        budgets=(f"latency={latency_budget:.4f}", f"peak_memory={memory_budget}"),
        sampler="predictor",  # each candidate costs a real evaluation: refit a predictor and propose its best
        population=8,
        trials=trials,
        seed=seed,
        supernet=str(supernet_path),
        latency_table=str(table_path),
        execution=ExecutionConfig(workers=workers, ray=use_ray),
    )
    result = run_search(config, "search", run_dir, progress=progress)
    front = pd.read_csv(result.run_dir / "front.csv").sort_values("loss", kind="stable").head(picks)
    rows = front.to_dict("records")
    archs = [
        space.validate({k: int(v) for k, v in row.items() if k in space.labels() and not pd.isna(v)}) for row in rows
    ]
    latency = measure_end_to_end(
        space, archs, timer, 1, classes, seed, progress, "measure the picks", table_reference(table, space, timer),
        table.reference_ms,
    )  # fmt: skip
    verified = []
    for i, (row, arch) in enumerate(zip(rows, archs)):
        test = evaluate(supernet.eval(), arch, data, "test")
        measured = latency.timings[i].median_ms
        verified.append(
            {
                "trial": int(row["trial"]),
                "val_loss": row["loss"],
                "val_accuracy": row["accuracy"],
                "test_accuracy": test.accuracy,
                "predicted_latency_ms": row["latency"],
                "measured_latency_ms": measured,
                "as_measured_latency_ms": latency.as_measured[i].median_ms,
                "latency_error": (row["latency"] - measured) / measured,
                "peak_memory_bytes": int(row["peak_memory"]),
                "arch": arch.to_dict(),
            }
        )
    cards = export_subnets(
        supernet_path,
        [f"{result.run_dir}:{rank}" for rank in range(len(verified))],  # front.csv is sorted by loss, as the picks
        run_dir / "export",
        ("pytorch", "onnx"),
        data,
        names=[f"pick-{rank}" for rank in range(len(verified))],
    )
    return {
        "exports": [{"name": c["name"], "folder": c["folder"], "formats": list(c["formats"])} for c in cards],
        "latency_table": str(table_path),
        "latency_validation": table.validation,
        "latency_model": {"method": table.model.method, "note": table.model.note} if table.model else None,
        "latency_warning": warning,
        "budgets": {"latency_ms": latency_budget, "peak_memory_bytes": memory_budget},
        "run_dir": str(result.run_dir),
        "trials": result.trials,
        "feasible": result.feasible,
        "front_size": result.front_size,
        "hypervolume": result.hypervolume,
        "search_seconds": round(result.wall_seconds, 1),
        "picks": verified,
    }


def trusted_table(
    space: SearchSpace, timer: Timer, num_classes: int, seed: int, progress: bool, subnets: int = 20
) -> tuple[LatencyTable, str | None]:
    """A latency table validated against the noise floor (``subnets`` subnets in two rounds), profiled once more
    when it misses its targets; the second table is used either way, with a warning when it misses them too.
    The validation figures are printed before anything uses the table."""
    for attempt in range(2):
        table = profile_table(space, timer, 1, num_classes, calibration=20, seed=seed + attempt, progress=progress)
        report = validate_table(table, space, timer, subnets, seed + 1 + attempt, progress)
        if progress:
            model = table.model.note if table.model else "raw sum"
            print(f"latency table, attempt {attempt + 1} ({model}):\n{validation_text(report)}", file=sys.stderr)
        if report["meets_targets"]:
            return table, None
    warning = (
        f"the latency table missed its targets twice (MAPE {report['mape_over_floor']:.2f}x the noise "
        f"floor's, Spearman {report['spearman_over_floor']:.2f}x); it is used, but its predictions are "
        "only as good as those figures"
    )
    warnings.warn(warning, stacklevel=2)
    return table, warning


def run_quickstart(
    name: str,
    epochs: int = 15,
    random_subnets: int = 20,
    seed: int = 0,
    threads: int = 0,
    progress: bool = True,
    limit_train: int = 0,
    search_trials: int = 24,
    workers: int = 2,
    use_ray: bool = True,
) -> dict[str, Any]:
    """Train, evaluate the largest, smallest and ``random_subnets`` random subnets, then (unless
    ``search_trials`` is 0) search under CPU latency and memory budgets; return a JSON-able report."""
    started = time.perf_counter()
    config = quickstart_config(epochs)
    config.seed = seed
    config.threads = threads
    config.data.limit_train = limit_train
    trainer = Trainer.start(config, name, progress=progress)
    summary = trainer.fit()
    rows = measure_subnets(
        trainer.supernet, trainer.data, summary.supernet_path, random_subnets, seed, config.calibration_images
    )
    search = None
    if search_trials:
        search = search_and_verify(
            trainer.supernet,
            summary.supernet_path,
            trainer.data,
            summary.run_dir,
            search_trials,
            workers,
            use_ray,
            seed,
            progress,
        )
    return {
        "run_dir": str(summary.run_dir),
        "supernet": str(summary.supernet_path),
        "train_seconds": round(summary.seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "epochs": epochs,
        "test_images": len(trainer.data.test),
        "subnets": rows,
        "all_targets_met": all(row["met"] for row in rows),
        "search": search,
    }
