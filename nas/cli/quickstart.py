"""``nas quickstart`` (the main job) and ``nas quickstart --spiking``."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from nas.cli.common import Commands, emit, mib, table
from nas.profile.validation import validation_text
from nas.quickstart import SPIKING_EPOCHS, run_quickstart, run_spiking_quickstart

__all__ = ["register"]

_HELP = (
    "Train an ofa_mbv3_small supernet on scikit-learn's bundled digits with the sandwich rule and in-place "
    "distillation, report test accuracy (after BN recalibration) of the largest, the smallest and random subnets "
    "against the quickstart targets, then profile this CPU's latency table, search with the predictor-guided "
    "sampler (supernet evaluations on a local Ray) under a latency and a peak-memory budget, verify the best picks "
    "(measured test accuracy and latency beside the predictions) and export them."
)


def _options(args: argparse.Namespace, epochs: int, trials: int) -> dict[str, Any]:
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


def _run(args: argparse.Namespace) -> int:
    if args.spiking:
        name = args.name or datetime.now().strftime("spiking-%Y%m%d-%H%M%S")
        return emit(args, run_spiking_quickstart(name, **_options(args, SPIKING_EPOCHS, 32)), _render_spiking)
    name = args.name or datetime.now().strftime("quickstart-%Y%m%d-%H%M%S")
    return emit(args, run_quickstart(name, random_subnets=args.subnets, **_options(args, 15, 24)), _render)


def _render(report: dict[str, Any]) -> None:
    rows = [
        {**row, "test_accuracy": f"{100 * row['test_accuracy']:.2f}", "target": f"{100 * row['target']:.1f}"}
        for row in report["subnets"]
    ]
    columns = [
        ("subnet", "subnet"),
        ("resolution", "res"),
        ("macs", "MACs"),
        ("test_accuracy", "test acc %"),
        ("target", "target %"),
        ("met", "met"),
    ]
    print(table(rows, columns))
    verdict = "all targets met" if report["all_targets_met"] else "SOME TARGETS MISSED"
    print(
        f"\n{verdict}; trained {report['epochs']} epochs in {report['train_seconds']} s "
        f"({report['total_seconds']} s in all); {report['test_images']} test images"
    )
    print(f"run folder: {report['run_dir']}  supernet: {report['supernet']}")
    search = report.get("search")
    if not search:
        return
    if search.get("latency_validation"):
        print(f"\nthis CPU's latency table ({search['latency_model']['note']}):")
        print(validation_text(search["latency_validation"]))
    if search.get("latency_warning"):
        print(f"WARNING: {search['latency_warning']}")
    budgets = search["budgets"]
    print(
        f"\nsearch: {search['trials']} trials ({search['feasible']} feasible) in {search['search_seconds']} s "
        f"under latency <= {budgets['latency_ms']:.3f} ms (this CPU's table) and peak memory <= "
        f"{mib(budgets['peak_memory_bytes'])}; front of {search['front_size']} in {search['run_dir']}"
    )
    picks = [
        {
            **pick,
            "val_accuracy": f"{100 * pick['val_accuracy']:.2f}",
            "test_accuracy": f"{100 * pick['test_accuracy']:.2f}",
            "latency_error": f"{100 * pick['latency_error']:+.1f}%",
            "peak_memory": mib(pick["peak_memory_bytes"]),
        }
        for pick in search["picks"]
    ]
    columns = [
        ("trial", "pick (trial)"),
        ("val_loss", "val loss"),
        ("val_accuracy", "val acc %"),
        ("test_accuracy", "test acc % (measured)"),
        ("predicted_latency_ms", "latency ms predicted"),
        ("measured_latency_ms", "measured"),
        ("latency_error", "error"),
        ("as_measured_latency_ms", "as measured"),
        ("peak_memory", "peak memory"),
    ]
    print(table(picks, columns))
    print("(measured: at the machine speed of profiling, by the reference subnet timed beside; as measured: without)")
    for card in search.get("exports", []):
        print(f"exported {card['name']}: {card['folder']} ({', '.join(card['formats'])}; card.md beside it)")


def _render_spiking(report: dict[str, Any]) -> None:
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
    print(table(rows, columns))
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


def register(commands: Commands) -> None:
    """Add ``nas quickstart``."""
    quick = commands.add("quickstart", "train on digits and measure subnets (the main job)", _HELP)
    quick.add_argument("--epochs", type=int, help=f"training epochs (default 15; {SPIKING_EPOCHS} with --spiking)")
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
    quick.set_defaults(func=_run)
