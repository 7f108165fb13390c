"""The ``nas`` command line: thin wrappers that parse flags into typed configs and call the library.

Every subcommand that produces figures takes ``--json`` and then prints exactly one JSON object on stdout; logs and
progress go to stderr. Errors in user input print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from search_spaces import NasError

__all__ = ["main"]

EXIT_USAGE = 2


def _emit(args: argparse.Namespace, report: dict[str, Any], render: Any) -> None:
    if args.json:
        print(json.dumps(report, default=str))
    else:
        render(report)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    cells = [[header for _, header in columns]] + [[_fmt(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"


# ---------------------------------------------------------------------- quickstart
def _quickstart_options(args: argparse.Namespace, epochs: int, trials: int) -> dict[str, Any]:
    """The options both quickstarts take from the command line (their defaults for epochs and trials differ)."""
    return {
        "epochs": args.epochs if args.epochs is not None else epochs,
        "seed": args.seed,
        "threads": args.threads,
        "progress": not args.quiet,
        "limit_train": args.limit_train,
        "search_trials": args.search_trials if args.search_trials is not None else trials,
        "workers": args.workers,
        "use_ray": not args.no_ray,
    }


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from nas.quickstart.digits import run_quickstart

    if args.spiking:
        return _cmd_spiking_quickstart(args)
    name = args.name or datetime.now().strftime("quickstart-%Y%m%d-%H%M%S")
    report = run_quickstart(name, random_subnets=args.subnets, **_quickstart_options(args, 15, 24))

    def render(report: dict[str, Any]) -> None:
        rows = [
            {**row, "test_accuracy": f"{100 * row['test_accuracy']:.2f}", "target": f"{100 * row['target']:.1f}"}
            for row in report["subnets"]
        ]
        print(
            _table(
                rows,
                [
                    ("subnet", "subnet"),
                    ("resolution", "res"),
                    ("macs", "MACs"),
                    ("test_accuracy", "test acc %"),
                    ("target", "target %"),
                    ("met", "met"),
                ],
            )
        )
        verdict = "all targets met" if report["all_targets_met"] else "SOME TARGETS MISSED"
        print(
            f"\n{verdict}; trained {report['epochs']} epochs in {report['train_seconds']} s "
            f"({report['total_seconds']} s in all); {report['test_images']} test images"
        )
        print(f"run folder: {report['run_dir']}  supernet: {report['supernet']}")
        search = report.get("search")
        if search:
            budgets = search["budgets"]
            print(
                f"\nsearch: {search['trials']} trials ({search['feasible']} feasible) in {search['search_seconds']} s "
                f"under latency <= {budgets['latency_ms']:.3f} ms (this CPU's table) and peak memory <= "
                f"{_mib(budgets['peak_memory_bytes'])}; front of {search['front_size']} in {search['run_dir']}"
            )
            picks = [
                {
                    **p,
                    "val_accuracy": f"{100 * p['val_accuracy']:.2f}",
                    "test_accuracy": f"{100 * p['test_accuracy']:.2f}",
                    "latency_error": f"{100 * p['latency_error']:+.1f}%",
                    "peak_memory": _mib(p["peak_memory_bytes"]),
                }
                for p in search["picks"]
            ]
            columns = [
                ("trial", "pick (trial)"),
                ("val_loss", "val loss"),
                ("val_accuracy", "val acc %"),
                ("test_accuracy", "test acc % (measured)"),
                ("predicted_latency_ms", "latency ms predicted"),
                ("measured_latency_ms", "measured"),
                ("latency_error", "error"),
                ("peak_memory", "peak memory"),
            ]
            print(_table(picks, columns))
            for card in search.get("exports", []):
                print(f"exported {card['name']}: {card['folder']} ({', '.join(card['formats'])}; card.md beside it)")

    _emit(args, report, render)
    return 0


def _cmd_spiking_quickstart(args: argparse.Namespace) -> int:
    from nas.quickstart.spiking import run_spiking_quickstart

    name = args.name or datetime.now().strftime("spiking-%Y%m%d-%H%M%S")
    report = run_spiking_quickstart(name, **_quickstart_options(args, 12, 32))

    def render(report: dict[str, Any]) -> None:
        rows = [
            {
                **row,
                "test_accuracy": f"{100 * row['test_accuracy']:.2f}",
                "measured_energy_pj": f"{row['measured_energy_pj'] / 1e3:.1f}",
                "energy_error": f"{100 * row['energy_error']:+.1f}%",
                "int8_ann_energy_pj": f"{row['int8_ann_energy_pj'] / 1e3:.1f}",
                "snn_over_int8": f"{row['snn_over_int8']:.2f}x",
                "firing_rate": f"{row['firing_rate']:.3f}",
            }
            for row in report["front"]
        ]
        columns = [
            ("trial", "trial"),
            ("timesteps", "T"),
            ("test_accuracy", "test acc %"),
            ("measured_energy_pj", "energy nJ (counted)"),
            ("energy_error", "estimate error"),
            ("firing_rate", "rate"),
            ("int8_ann_energy_pj", "INT8 ANN nJ"),
            ("snn_over_int8", "SNN/INT8"),
        ]
        print("accuracy-vs-energy front (test set), with the INT8 ANN of the same shape beside it:")
        print(_table(rows, columns))
        best = report["best"]
        verdict = "met" if report["target_met"] else "NOT MET"
        print(
            f"\nbest: {100 * best['test_accuracy']:.2f}% test accuracy at T={best['timesteps']} "
            f"(target >= {100 * report['accuracy_target']:.1f}% at T <= {report['max_timesteps']}: {verdict}); "
            f"{best['verdict']}"
        )
        timing = report["all_timesteps_one_pass"]
        print(
            f"all T in one pass: {timing['one_pass_seconds']:.2f} s vs {timing['separate_seconds']:.2f} s separately "
            f"({timing['speedup']:.2f}x), accuracies identical within {timing['max_accuracy_difference']:.1e}"
        )
        print(
            f"trained {report['epochs']} epochs in {report['train_seconds']} s, searched {report['trials']} trials "
            f"in {report['search_seconds']} s; run folder {report['run_dir']}; plot {report['plot']}"
        )

    _emit(args, report, render)
    return 0


# ---------------------------------------------------------------------- train
def _train_config(args: argparse.Namespace) -> Any:
    from nas.core.config import load_yaml, parse_config
    from nas.training.config import TrainConfig, progressive_shrinking_phases

    data = load_yaml(args.config) if args.config else {}
    overrides = {
        "supernet": args.supernet,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    # flags merge into sections only where the file has a mapping (or nothing); any other type is left for
    # parse_config to reject with the field's name
    data_flags = {
        k: v
        for k, v in (("name", args.data), ("root", args.data_root), ("resolution", args.resolution))
        if v is not None
    }
    if data_flags and isinstance(data.get("data", {}), dict):
        data["data"] = {**data.get("data", {}), **data_flags}
    if args.lr is not None and isinstance(data.get("optim", {}), dict):
        data["optim"] = {**data.get("optim", {}), "lr": args.lr}
    if args.recipe == "progressive":
        data["phases"] = [vars(phase) for phase in progressive_shrinking_phases(args.epochs or 5)]
    elif args.epochs is not None:
        phases = data.get("phases", [{}])
        if not isinstance(phases, list) or len(phases) != 1 or not isinstance(phases[0], dict):
            from search_spaces import ConfigError

            raise ConfigError(
                "--epochs sets the epochs of a one-phase recipe; edit the phases in the config file instead",
                field="epochs",
            )
        data["phases"] = [{**phases[0], "epochs": args.epochs}]
    return parse_config(TrainConfig, data)


def _cmd_train(args: argparse.Namespace) -> int:
    from nas.training.trainer import Trainer

    if args.resume:
        trainer = Trainer.resume(args.resume, progress=not args.quiet)
    else:
        config = _train_config(args)
        name = args.name or datetime.now().strftime("train-%Y%m%d-%H%M%S")
        trainer = Trainer.start(config, name, progress=not args.quiet)
    summary = trainer.fit()
    report = {
        "run_dir": str(summary.run_dir),
        "supernet": str(summary.supernet_path),
        "steps": summary.steps,
        "seconds": round(summary.seconds, 1),
        "final_loss": summary.final_loss,
    }
    _emit(
        args,
        report,
        lambda r: print(f"trained {r['steps']} steps in {r['seconds']} s; supernet: {r['supernet']}"),
    )
    return 0


# ---------------------------------------------------------------------- eval
def _cmd_eval(args: argparse.Namespace) -> int:
    from nas.data import load_dataset
    from nas.supernet import load_supernet
    from nas.training.evaluation import EvalCache, evaluate, file_digest
    from search_spaces.parsing import parse_arch

    supernet = load_supernet(args.supernet).eval()
    data = load_dataset(args.data, args.data_root, resolution=args.resolution, seed=args.data_seed)
    if data.num_classes != supernet.num_classes:
        from search_spaces import ConfigError

        raise ConfigError(
            f"{args.supernet} has {supernet.num_classes} classes but data set {args.data!r} has {data.num_classes}",
            field="data",
            value=args.data,
        )
    cache_path = Path(args.supernet).with_name("eval_cache.jsonl")
    cache = EvalCache(cache_path, file_digest(args.supernet), args.data)
    rows = []
    for text in args.arch:
        arch = parse_arch(text, supernet.space)
        result = evaluate(supernet, arch, data, args.split, args.calibration_images, cache=cache)
        rows.append(
            {
                "arch": text if len(text) < 40 else arch.key,
                "accuracy": result.accuracy,
                "loss": result.loss,
                "images": result.images,
                "macs": supernet.macs(arch),
                "labels": arch.to_dict(),
            }
        )
    _emit(
        args,
        {"split": args.split, "results": rows},
        lambda r: print(
            _table(
                r["results"],
                [
                    ("arch", "arch"),
                    ("macs", "MACs"),
                    ("accuracy", "accuracy"),
                    ("loss", "loss"),
                    ("images", "images"),
                ],
            )
        ),
    )
    return 0


# ---------------------------------------------------------------------- spaces and archs
def _cmd_spaces(args: argparse.Namespace) -> int:
    import math

    import nas

    rows = []
    for name in nas.list_spaces():
        space = nas.get_space(name)
        decisions = space.decisions()
        rows.append(
            {
                "space": name,
                "decisions": len(decisions),
                "choices_per_decision": f"{min(len(d.choices) for d in decisions)}-"
                f"{max(len(d.choices) for d in decisions)}",
                "log10_archs": round(math.log10(_count_archs(space)), 1),
                "supernet": name in nas.list_supernets(),
            }
        )
    _emit(
        args,
        {"spaces": rows},
        lambda r: print(
            _table(
                r["spaces"],
                [
                    ("space", "space"),
                    ("decisions", "decisions"),
                    ("choices_per_decision", "choices"),
                    ("log10_archs", "log10 #archs"),
                    ("supernet", "supernet"),
                ],
            )
        ),
    )
    return 0


def _count_archs(space: Any) -> int:
    """Number of distinct architectures: a gating decision contributes, per value, the product of the choices
    it switches on."""
    decisions = space.decisions()
    total = 1
    for decision in decisions:
        if decision.gate is not None:
            continue
        gated = [d for d in decisions if d.gate and d.gate[0] == decision.label]
        if not gated:
            total *= len(decision.choices)
            continue
        ways = 0
        for value in decision.choices:
            product = 1
            for child in gated:
                product *= len(child.choices) if value >= child.gate[1] else 1
            ways += product
        total *= ways
    return total


def _cmd_arch(args: argparse.Namespace) -> int:
    import random

    import nas
    from nas.supernet.families.mobilenetv3.memory import SubnetMemory
    from predictors import count_params
    from search_spaces.parsing import parse_arch

    space = nas.get_space(args.space)
    if args.action == "sample":
        rng = random.Random(args.seed)
        archs = [space.sample(rng) for _ in range(args.n)]
    else:
        if not args.arch:
            raise nas.ConfigError(
                "nas arch show needs ARCH (smallest, largest, a JSON file or inline JSON)", field="arch"
            )
        archs = [parse_arch(text, space) for text in args.arch]
    rows = []
    supernet = (
        nas.create_supernet(args.space, num_classes=args.num_classes) if args.space in nas.list_supernets() else None
    )
    for arch in archs:
        row: dict[str, Any] = {"key": arch.key, "arch": arch.to_dict()}
        if space.ofa_keys:
            row["ofa_config"] = space.to_ofa_config(arch)
        if supernet is not None:
            row["macs"] = supernet.macs(arch)
            row["params"] = count_params(supernet.extract(arch))
            row["memory"] = SubnetMemory(space, args.num_classes).report(arch)
        rows.append(row)

    def render(report: dict[str, Any]) -> None:
        for row in report["archs"]:
            print(json.dumps({"space": args.space, **row["arch"]}))
            if "macs" in row:
                memory = row["memory"]
                print(
                    f"  key={row['key']}  MACs={row['macs']:,}  params={row['params']:,}  "
                    f"(num_classes={args.num_classes})\n"
                    f"  memory: weights {_mib(memory['weights_bytes_fp32'])} fp32 / "
                    f"{_mib(memory['weights_bytes_int8'])} int8, inference peak {_mib(memory['inference_peak_bytes'])}"
                    f", MCUNet int8 peak {_mib(memory['mcunet_int8_peak_bytes'])}, "
                    f"training (batch 2, SGD momentum) {_mib(memory['training']['total_bytes'])}",
                    file=sys.stderr,
                )

    _emit(args, {"space": args.space, "num_classes": args.num_classes, "archs": rows}, render)
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas",
        description="Hardware-aware neural architecture search on once-for-all supernets. Every command writes "
        "its outputs under runs/<name>/; add --json for one machine-readable JSON object on stdout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout (logs go to stderr)")
        return p

    quick = command(
        "quickstart",
        "train on digits and measure subnets (the main job)",
        "Train an ofa_mbv3_small supernet on scikit-learn's bundled digits with the sandwich rule and "
        "in-place distillation, report test accuracy (after BN recalibration) of the largest, "
        "the smallest and random subnets against the quickstart targets, then profile this CPU's latency "
        "table, search (NSGA-II, supernet evaluations on a local Ray) under a latency and a peak-memory "
        "budget, and verify the best picks: measured test accuracy and latency beside the predictions.",
    )
    quick.add_argument("--epochs", type=int, help="training epochs (default 15; 12 with --spiking)")
    quick.add_argument("--subnets", type=int, default=20, help="random subnets to evaluate")
    quick.add_argument("--seed", type=int, default=0, help="seed for weights, data order and sampled subnets")
    quick.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    quick.add_argument("--name", help="run folder name under runs/ (default: quickstart-<timestamp>)")
    quick.add_argument("--quiet", action="store_true", help="no progress bar")
    quick.add_argument("--limit-train", type=int, default=0, help="train on the first N images only (smoke tests)")
    quick.add_argument(
        "--search-trials", type=int, help="search trials after training (default 24; 32 with --spiking; 0: no search)"
    )
    quick.add_argument("--workers", type=int, default=2, help="Ray evaluation workers for the search")
    quick.add_argument("--no-ray", action="store_true", help="evaluate search candidates in this process")
    quick.add_argument(
        "--spiking",
        action="store_true",
        help="the spiking quickstart instead: train spiking_resnet, search accuracy vs energy with T <= 4, and "
        "verify the front on the test set beside the INT8 ANN of the same shape",
    )
    quick.set_defaults(func=_cmd_quickstart)

    train = command(
        "train",
        "train a supernet from a YAML config and flags",
        "Train a weight-sharing supernet. Flags override the YAML config; unknown config keys are "
        "errors. --resume RUN_DIR continues a run from its last checkpoint exactly.",
    )
    train.add_argument("--config", help="YAML file of TrainConfig settings")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder from checkpoints/last.pt")
    train.add_argument("--name", help="run folder name under runs/ (default: train-<timestamp>)")
    train.add_argument("--supernet", help="registered supernet (see `nas spaces`)")
    train.add_argument("--data", help="data set: digits, cifar10 or imagefolder")
    train.add_argument("--data-root", help="folder of the data set (cifar10, imagefolder)")
    train.add_argument("--resolution", type=int, help="stored image resolution")
    train.add_argument(
        "--recipe",
        choices=["sandwich", "progressive"],
        default="sandwich",
        help="sandwich rule (BigNAS) or once-for-all progressive shrinking",
    )
    train.add_argument("--epochs", type=int, help="epochs (sandwich) or epochs per phase (progressive)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--threads", type=int, help="CPU threads (0: torch's default)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)

    evaluate = command(
        "eval",
        "accuracy of subnets of a trained supernet",
        "Evaluate subnets (after BN recalibration on training images) on a split. Results are "
        "cached beside the checkpoint, keyed by checkpoint hash, arch and split.",
    )
    evaluate.add_argument("--supernet", required=True, help="supernet.pt or a training checkpoint")
    evaluate.add_argument(
        "--arch",
        required=True,
        nargs="+",
        help="smallest, largest, a JSON file, inline JSON labels or an OFA config",
    )
    evaluate.add_argument("--data", default="digits")
    evaluate.add_argument("--data-root")
    evaluate.add_argument("--data-seed", type=int, default=0, help="seed of the train/val/test split")
    evaluate.add_argument("--resolution", type=int, default=32, help="stored image resolution")
    evaluate.add_argument("--split", default="test", choices=["train", "val", "test"])
    evaluate.add_argument("--calibration-images", type=int, default=512)
    evaluate.set_defaults(func=_cmd_eval)

    spaces = command("spaces", "list search spaces and supernets", "List registered search spaces.")
    spaces.set_defaults(func=_cmd_spaces)

    arch = command(
        "arch",
        "sample or inspect architectures",
        "`nas arch sample --space S -n 5` draws random archs; `nas arch show ARCH --space S` validates "
        "an arch (labels JSON, OFA config, file, smallest, largest) and prints its OFA config, MACs "
        "and parameters.",
    )
    arch.add_argument("action", choices=["sample", "show"])
    arch.add_argument("arch", nargs="*", help="for show: smallest, largest, a JSON file or inline JSON")
    arch.add_argument("--space", default="ofa_mbv3", help="search space name")
    arch.add_argument("-n", type=int, default=1, help="how many to sample")
    arch.add_argument("--seed", type=int, default=0)
    arch.add_argument("--num-classes", type=int, default=1000, help="classes, for MACs and parameter counts")
    arch.set_defaults(func=_cmd_arch)

    from nas.cli.bench import add_bench_commands
    from nas.cli.export import add_export_commands
    from nas.cli.latency import add_latency_commands
    from nas.cli.predictor import add_predictor_commands
    from nas.cli.search import add_search_commands
    from nas.cli.spiking import add_spiking_commands

    def emit_report(args: argparse.Namespace, report: dict[str, Any]) -> int:
        _emit(args, report, lambda r: print("\n".join(f"{k:>16}: {_fmt(v)}" for k, v in r.items() if k != "columns")))
        return 0

    add_predictor_commands(command, emit_report)
    add_latency_commands(command, emit_report)
    add_search_commands(command, emit_report)
    add_bench_commands(command, emit_report)
    add_export_commands(command, emit_report)
    add_spiking_commands(command, emit_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NasError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
