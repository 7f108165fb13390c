"""``nas profile`` (build a device's latency table) and ``nas latency validate | predict`` (use one)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from nas.cli.common import Commands, actions, emit_report
from nas.profile.tables import default_table_path, profile_table
from nas.profile.timers import DEVICES, Timer, create_timer
from nas.profile.validation import validate_table
from nas.supernet.latency import LatencyModel
from predictors.latency import LatencyTable
from search_spaces import ConfigError, get_space
from search_spaces.atomic import atomic_write_json
from search_spaces.parsing import parse_arch

__all__ = ["register"]


def _timer(device: str, threads: int | None, cuda_graphs: bool, args: argparse.Namespace) -> Timer:
    return create_timer(
        device, threads or None, cuda_graphs=cuda_graphs, min_repeats=args.repeats, min_seconds=args.min_time
    )


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    space = get_space(args.space)
    out = Path(args.out) if args.out else default_table_path(args.device, space.name, args.batch)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it", field="out", value=str(out))
    timer = _timer(args.device, args.threads, args.cuda_graphs, args)
    started = time.perf_counter()
    table = profile_table(space, timer, args.batch, args.num_classes, args.calibration, args.seed, not args.json)
    seconds = time.perf_counter() - started
    table.machine["profile_seconds"] = round(seconds, 1)
    table.save(out)
    report: dict[str, Any] = {
        "table": str(out),
        "space": space.name,
        "device": table.device,
        "device_name": table.machine.get("name"),
        "batch": table.batch,
        "parts": len(table.entries),
        "profile_seconds": round(seconds, 1),
    }
    if table.correction:
        report["correction_fit_mape"] = table.correction.fit_mape
    if args.validate:
        validation = validate_table(table, space, timer, args.validate, args.seed + 1, not args.json)
        report.update({k: v for k, v in validation.items() if k != "rows"})
    return report


def _validate(args: argparse.Namespace) -> dict[str, Any]:
    table = LatencyTable.load(args.table)
    space = get_space(table.space)
    threads = args.threads or table.machine.get("threads")
    timer = _timer(table.device, threads, bool(table.machine.get("cuda_graphs")), args)
    report = validate_table(table, space, timer, args.n, args.seed, not args.json)
    out = Path(args.table).with_suffix(".validation.json")
    atomic_write_json(out, {"table": args.table, "machine": timer.describe(), **report})
    return {"table": args.table, "report": str(out), **{k: v for k, v in report.items() if k != "rows"}}


def _predict(args: argparse.Namespace) -> dict[str, Any]:
    table = LatencyTable.load(args.table)
    space = get_space(table.space)
    archs = [parse_arch(text, space) for text in args.arch]
    predicted = LatencyModel(table, space).predict(archs)
    return {
        "table": args.table,
        "device": table.device,
        "batch": table.batch,
        "predicted_ms": [round(float(ms), 4) for ms in predicted],
    }


def register(commands: Commands) -> None:
    """Add ``nas profile`` and ``nas latency``."""
    profile = commands.add(
        "profile",
        "build a latency table for a space on this machine's CPU, GPU or ONNX Runtime",
        "Time every distinct part (stem, block shape at each input size, head) the space can produce, "
        "with warm-up, repeats until both a minimum count and 0.1 s of samples, median and IQR, and "
        "pinned threads (CUDA: events, optional CUDA graphs). Then measure --calibration random subnets end "
        "to end and fit the correction that per-part sums need (fusion, caches, launch overhead). Writes "
        "runs/latency/<device>-<space>-b<batch>.json with the machine's description.",
    )
    profile.add_argument("--space", default="ofa_mbv3", help="search space (see `nas spaces`)")
    profile.add_argument("--device", default="cpu", choices=DEVICES)
    profile.add_argument("--batch", type=int, default=1)
    profile.add_argument("--threads", type=int, default=0, help="CPU threads, pinned to as many cores (0: torch's)")
    profile.add_argument("--cuda-graphs", action="store_true", help="CUDA: replay captured graphs (batch 1)")
    profile.add_argument("--num-classes", type=int, default=1000, help="classifier outputs")
    profile.add_argument("--calibration", type=int, default=40, help="end-to-end measurements for the correction")
    profile.add_argument("--repeats", type=int, default=20, help="minimum timed repeats per part")
    profile.add_argument("--min-time", type=float, default=0.1, help="minimum seconds of timed repeats per part")
    profile.add_argument("--validate", type=int, default=0, metavar="N", help="then validate on N other subnets")
    profile.add_argument("--seed", type=int, default=0)
    profile.add_argument("--out", help="table file (default: runs/latency/<device>-<space>-b<batch>.json)")
    profile.add_argument("--overwrite", action="store_true", help="replace an existing table file")
    profile.set_defaults(func=lambda a: emit_report(a, _profile(a)))

    latency = commands.add(
        "latency",
        "validate a latency table or predict archs' latencies",
        "validate: measure N random subnets end to end (none of them used for the correction) and "
        "print MAPE, the share within +/-10%, Kendall tau and Spearman, for the corrected prediction "
        "and the raw per-part sum; rows go to <table>.validation.json. predict: predicted ms per arch.",
    )
    add_action = actions(latency)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = add_action(name, help_text)
        sub.add_argument("table", help="latency table JSON written by `nas profile`")
        return sub

    validate = action("validate", "compare the table's predictions with end-to-end measurements")
    validate.add_argument("--n", type=int, default=100, help="random subnets to measure")
    validate.add_argument("--seed", type=int, default=1)
    validate.add_argument("--threads", type=int, default=0, help="CPU threads (0: as when profiled)")
    validate.add_argument("--repeats", type=int, default=20, help="minimum timed repeats per subnet")
    validate.add_argument("--min-time", type=float, default=0.1, help="minimum seconds of timed repeats per subnet")
    validate.set_defaults(func=lambda a: emit_report(a, _validate(a)))

    predict = action("predict", "predicted latency of archs")
    predict.add_argument("--arch", nargs="+", required=True, help="smallest, largest, JSON file, inline JSON, OFA")
    predict.set_defaults(func=lambda a: emit_report(a, _predict(a)))
