"""``nas search`` (run or resume a constrained multi-objective search) and ``nas report`` (print its front)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from nas.cli.common import Commands, add_data_arguments, emit_report, handled, table
from nas.core.config import default
from nas.search.config import EvaluationConfig, ExecutionConfig, SearchConfig
from nas.search.driver import run_search
from nas.search.objectives import device_latency, metrics
from nas.search.results import read_front, read_report
from nas.search.samplers import list_samplers
from nas.training.evaluation import SPLITS
from search_spaces import ConfigError

__all__ = ["register"]

_SEARCH_HELP = """\
Search a space for architectures that are best on --objectives while meeting every --budget.
Accuracy comes from a fitted predictor (--predictor DIR: fast, vectorized) or from the supernet itself
(--supernet CKPT: each candidate extracted, BN recalibrated and scored on --split, on Ray workers that load
the checkpoint once). Cheap budgets (MACs, params, table latency, memory) are checked before any evaluation.
A predictor knows what its training rows covered (resolutions, block choices, MACs range): candidates outside
that domain are infeasible (constraint 'domain', never evaluated) unless --allow-extrapolation; every trial and
front row has an in_domain column. The space defaults to the one the predictor was fitted on.

The study is an Optuna journal file in runs/<name>/study.journal (open it with optuna-dashboard), or
--storage postgresql://user:pass@host/db for several hosts. --resume continues a killed search exactly.
Several drivers share one database study: start the first as usual, the others with --join (each with its own
--name); together they stop at --trials, and the unfinished trials of a driver that dies (silent for three
--heartbeat periods) are re-queued with the same architecture for the others.

Ray: by default a local Ray is started (dashboard off, bound to 127.0.0.1) with --workers actors. To use a
cluster, run `ray start --head --node-ip-address=<private ip>` on one host and `ray start --address=<head>:6379`
on the others (on a private network), then pass --ray-address auto. --no-ray evaluates in this process.

Spiking: with a spiking_resnet supernet, energy, synops and firing_rate are measured per candidate (every T of
an arch in one pass), timesteps and membrane_memory are cheap; bound a range with two budgets, e.g.
--budget timesteps=4 --budget "firing_rate>=0.02" --budget "firing_rate<=0.3". With a qcfs_resnet supernet,
converted_accuracy is the candidate's accuracy after ANN-to-SNN conversion at --convert-timesteps.

Metrics: """


def _help() -> str:
    """The description, ending with every metric the registered families define."""
    return _SEARCH_HELP + ", ".join(f"{m.name} ({m.direction[:3]}, {m.unit})" for m in metrics().values())


def _latency_tables(args: argparse.Namespace) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """The one plain ``--latency-table`` (or None), the ``NAME=TABLE`` ones, and the objectives with ``latency``
    standing for every device's latency when only named tables are given."""
    given = args.latency_table or []
    named = tuple(text for text in given if "=" in text)
    plain = [text for text in given if "=" not in text]
    if len(plain) > 1:
        raise ConfigError(
            "--latency-table is given twice without names: name each device's table, NAME=TABLE",
            field="latency_table",
            value=plain,
        )
    objectives = list(args.objectives)
    if named and not plain and "latency" in objectives:
        at = objectives.index("latency")
        objectives[at : at + 1] = [device_latency(text.partition("=")[0]) for text in named]
    return (plain[0] if plain else None), named, tuple(objectives)


def _search(args: argparse.Namespace) -> dict[str, Any]:
    latency_table, latency_tables, objectives = _latency_tables(args)
    config = SearchConfig(
        objectives=objectives,
        budgets=tuple(args.budget or ()),
        sampler=args.sampler,
        trials=args.trials,
        population=args.population,
        seed=args.seed,
        space=args.space,
        supernet=args.supernet,
        predictor=args.predictor,
        latency_table=latency_table,
        latency_tables=latency_tables,
        per_device=args.per_device,
        num_classes=args.num_classes,
        train_batch=args.train_batch,
        reference=tuple(args.reference) if args.reference else None,
        spiking_friendly=args.spiking_friendly,
        allow_extrapolation=args.allow_extrapolation,
        evaluation=EvaluationConfig(
            data=args.data,
            data_root=args.data_root,
            data_seed=args.data_seed,
            resolution=args.resolution,
            calibration_images=args.calibration_images,
            split=args.split,
            convert_timesteps=args.convert_timesteps,
        ),
        execution=ExecutionConfig(
            workers=args.workers,
            ray=not args.no_ray,
            ray_address=args.ray_address,
            cpus_per_worker=args.cpus_per_worker,
            gpus_per_worker=args.gpus_per_worker,
            storage=args.storage,
            batch=args.batch,
            heartbeat_seconds=args.heartbeat,
        ),
    )
    name = args.name or datetime.now().strftime("search-%Y%m%d-%H%M%S")
    result = run_search(config, name, args.runs_root, resume=args.resume, progress=not args.json, join=args.join)
    return {
        "run": str(result.run_dir),
        "trials": result.trials,
        "feasible": result.feasible,
        "front_size": result.front_size,
        "hypervolume": result.hypervolume,
        "reference": result.reference,
        "wall_seconds": round(result.wall_seconds, 2),
        "optimizer_seconds": round(result.optimizer_seconds, 3),
        "front": str(result.run_dir / "front.csv"),
    }


def _report(args: argparse.Namespace) -> dict[str, Any]:
    summary, front = read_report(args.run)
    columns = [*summary["objectives"], *[c for c in front.columns if c.startswith("violation_") or c == "in_domain"]]
    rows = front[["trial", *columns]].head(args.top).to_dict("records") if len(front) else []
    report = {"run": args.run, **{k: v for k, v in summary.items() if k != "hypervolume_curve"}, "front": rows}
    for device, facts in (summary.get("devices") or {}).items():
        device_front = read_front(args.run, facts["front"])
        shown = ["trial", *facts["objectives"]]
        facts["rows"] = device_front[shown].head(args.top).to_dict("records") if len(device_front) else []
        report["devices"][device] = facts
    return report


def _render_report(report: dict[str, Any]) -> None:
    counts = f"{report['trials']} trials, {report['feasible']} feasible, front of {report['front_size']}"
    print(f"run {report['run']}: {counts}")
    print(f"budgets: {', '.join(report['budgets']) or 'none'}")
    print(f"hypervolume {report['hypervolume']:.6g} at reference {report['reference']}")
    if report["front"]:
        columns = list(report["front"][0])
        rows = [{c: f"{v:.5g}" if isinstance(v, float) else v for c, v in row.items()} for row in report["front"]]
        print(table(rows, [(c, c) for c in columns]))
    for device, front in (report.get("devices") or {}).items():
        print(
            f"\ndevice {device}: front of {front['front_size']} over {', '.join(front['objectives'])} "
            f"({front['feasible']} feasible), hypervolume {front['hypervolume']:.6g}: {front['front']}"
        )
        rows = [{c: f"{v:.5g}" if isinstance(v, float) else v for c, v in row.items()} for row in front["rows"]]
        if rows:
            print(table(rows, [(c, c) for c in rows[0]]))


def register(commands: Commands) -> None:
    """Add ``nas search`` and ``nas report``."""
    search = commands.add("search", "constrained multi-objective architecture search", _help(), raw=True)
    search.add_argument("--name", help="run folder under --runs-root (default: search-<timestamp>)")
    search.add_argument("--runs-root", default="runs")
    search.add_argument("--resume", action="store_true", help="continue the run --name from its study")
    search.add_argument(
        "--objectives", nargs="+", default=list(default(SearchConfig, "objectives")), help="metrics to optimise"
    )
    search.add_argument("--budget", action="append", help="METRIC=VALUE, e.g. latency=5 or peak_memory=2MiB (repeat)")
    search.add_argument(
        "--sampler",
        default=default(SearchConfig, "sampler"),
        help=f"one of {', '.join(list_samplers())}; 'predictor' is the predictor-guided tactic (LINAS): refit a "
        "predictor on the evaluated trials every 5 and propose what it ranks best, for when evaluations are expensive",
    )
    search.add_argument("--trials", type=int, default=default(SearchConfig, "trials"), help="finished trials to reach")
    search.add_argument(
        "--batch",
        type=int,
        default=default(ExecutionConfig, "batch"),
        help="candidates asked per round (predictor searches)",
    )
    search.add_argument(
        "--population",
        type=int,
        default=default(SearchConfig, "population"),
        help="NSGA-II / evolution population; the predictor tactic's random start",
    )
    search.add_argument("--seed", type=int, default=default(SearchConfig, "seed"))
    search.add_argument(
        "--space", help="search space (default: the supernet's, the latency table's or the predictor's)"
    )
    search.add_argument("--supernet", help="supernet checkpoint: measured accuracy on workers")
    search.add_argument("--predictor", help="predictor folder (nas predictor fit): predicted accuracy or loss")
    search.add_argument(
        "--allow-extrapolation",
        action="store_true",
        help="let candidates outside the predictor's training domain (unseen resolutions or block choices, MACs "
        "outside the seen range) onto the front; by default they are infeasible (constraint 'domain')",
    )
    search.add_argument(
        "--latency-table",
        action="append",
        metavar="[NAME=]TABLE",
        help="latency table JSON from `nas profile` (metric latency); NAME=TABLE, repeated, one per device (metric "
        "latency@NAME, budgets like --budget latency@pi5=30; objective latency then means every device's)",
    )
    search.add_argument(
        "--per-device",
        action="store_true",
        help="one Pareto front per device from the same evaluations (front@NAME.csv/.png); a device's budgets rule "
        "out only what meets no device's budgets",
    )
    search.add_argument(
        "--num-classes",
        type=int,
        default=default(SearchConfig, "num_classes"),
        help="classes when no supernet gives them",
    )
    search.add_argument(
        "--train-batch", type=int, default=default(SearchConfig, "train_batch"), help="batch size for training_memory"
    )
    add_data_arguments(search)
    search.add_argument("--split", default=default(EvaluationConfig, "split"), choices=SPLITS)
    search.add_argument(
        "--spiking-friendly",
        action="store_true",
        help="keep only conversion-friendly subnets (ReLU/QCFS, foldable BN, average pooling); a space whose "
        "subnets use h-swish, squeeze-excite, attention or max pooling is refused, naming the layer",
    )
    search.add_argument(
        "--convert-timesteps",
        type=int,
        default=default(EvaluationConfig, "convert_timesteps"),
        help="T at which converted_accuracy runs the converted SNN (qcfs_resnet supernets)",
    )
    search.add_argument(
        "--workers", type=int, default=default(ExecutionConfig, "workers"), help="Ray evaluation actors"
    )
    search.add_argument("--cpus-per-worker", type=float, default=default(ExecutionConfig, "cpus_per_worker"))
    search.add_argument(
        "--gpus-per-worker",
        type=float,
        default=default(ExecutionConfig, "gpus_per_worker"),
        help="fractions share a GPU",
    )
    search.add_argument("--no-ray", action="store_true", help="evaluate in this process")
    search.add_argument("--ray-address", help="join a running cluster: auto or HOST:PORT")
    search.add_argument("--storage", help="Optuna storage URL (default: journal file in the run folder)")
    search.add_argument(
        "--join", action="store_true", help="add this driver to the study another driver started in --storage"
    )
    search.add_argument(
        "--heartbeat",
        type=float,
        default=default(ExecutionConfig, "heartbeat_seconds"),
        help="database storages: seconds between a driver's heartbeats; a driver silent for three is dead and its "
        "unfinished trials re-queue",
    )
    search.add_argument("--reference", type=float, nargs="+", help="hypervolume reference point")
    search.set_defaults(func=lambda a: emit_report(a, _search(a)))

    report = commands.add(
        "report", "print a search's Pareto front", "Print the summary and front table of a search run."
    )
    report.add_argument("run", help="run folder, e.g. runs/search-...")
    report.add_argument("--top", type=int, default=20, help="front rows to print")
    report.set_defaults(func=handled(_report, _render_report))
