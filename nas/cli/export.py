"""``nas export``: write selected subnets of a trained supernet as deployable, verified artifacts with model
cards (one arch, or every arch of a search run's Pareto front)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from nas.cli.common import Commands, add_data_arguments, emit_report
from nas.core.config import default
from nas.export.exporter import INDEX_FILE, ExportOptions, export_front, export_subnet, index_row
from nas.export.formats import FORMATS

__all__ = ["register"]

_HELP = (
    """\
Extract a subnet, recalibrate its batch norm on training images, optionally fine-tune it (--finetune N epochs),
and write it in each --format:
"""
    + "\n".join(f"  {name:12s} {fmt.summary}" for name, fmt in FORMATS.items())
    + """

Every artifact is loaded back and run on real test images; its outputs must match the supernet's own forward
pass for the arch (eval mode, same BN statistics) within --tolerance (max abs difference), or nothing is
written. Beside the files go card.json and card.md: arch, OFA config, supernet sha256, MACs, parameters,
memory, test accuracy, latency on this CPU (PyTorch eager and ONNX Runtime), parity, versions and, for
RUN:rank or --front, what the search predicted and its budgets.

ARCH: smallest, largest, a JSON file, inline JSON (labels or an OFA config {"ks":[..],"e":[..],"d":[..],"r":..})
or RUN:rank (the rank-th row, from 0, of RUN/front.csv). --front RUN exports every distinct front row into
OUT/rank-<i>/ with an index table OUT/index.csv. An existing OUT is refused unless --overwrite, and is then
replaced only after the new export passed every check."""
)


def _summary(card: dict[str, Any]) -> dict[str, Any]:
    """The one-subnet report: the index-table row without rank and folder, plus where, which formats, how long."""
    row = {k: v for k, v in index_row(0, card).items() if k not in ("rank", "folder")}
    return {
        "out": card["folder"],
        "space": card["space"],
        **row,
        "formats": ", ".join(card["formats"]),
        "export_seconds": card["export_seconds"],
    }


def _export(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "data_root": args.data_root,
        "data_seed": args.data_seed,
        "data_resolution": args.resolution,
        "calibration_images": args.calibration_images,
        "parity_images": args.parity_images,
        "tolerance": args.tolerance,
        "finetune_epochs": args.finetune,
        "finetune_lr": args.lr,
        "finetune_batch": args.batch_size,
        "seed": args.seed,
        "threads": args.threads or None,
        "latency": not args.no_latency,
        "space": args.space,
    }
    log = None if args.json else (lambda message: print(message, file=sys.stderr))
    started = time.perf_counter()
    common = {"formats": args.format, "data": args.data, "overwrite": args.overwrite, "log": log, **options}
    if args.front:
        cards = export_front(args.supernet, args.front, args.out, **common)
        report: dict[str, Any] = {
            "out": args.out,
            "index": f"{args.out}/{INDEX_FILE}",
            "exported": len(cards),
            "folders": ", ".join(card["name"] for card in cards),
            "parity_max_abs_diff": max(max(card["parity"]["max_abs_diff"].values()) for card in cards),
            "export_seconds": round(time.perf_counter() - started, 2),
        }
        if args.json:
            report["cards"] = cards
        return report
    card = export_subnet(args.supernet, args.arch, args.out, **common)
    report = _summary(card)
    if args.json:
        report["card"] = card
    return report


def register(commands: Commands) -> None:
    """Add ``nas export``."""
    export = commands.add(
        "export", "export subnets as verified PyTorch / TorchScript / torch.export / ONNX / timm files", _HELP, raw=True
    )
    export.add_argument("--supernet", required=True, help="supernet.pt or a training checkpoint")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="ARCH: smallest, largest, JSON file, inline JSON, OFA config or RUN:rank")
    which.add_argument("--front", metavar="RUN", help="export every arch of this search run's Pareto front")
    export.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    export.add_argument(
        "--format",
        nargs="+",
        default=list(default(ExportOptions, "formats")),
        help=f"one or more of {', '.join(name for name, _ in FORMATS.items())}",
    )
    export.add_argument("--overwrite", action="store_true", help="replace OUT once the new export succeeded")
    export.add_argument("--space", help="refuse a supernet of any other space")
    add_data_arguments(export)
    export.add_argument(
        "--parity-images",
        type=int,
        default=default(ExportOptions, "parity_images"),
        help="test images for the parity check",
    )
    export.add_argument(
        "--tolerance",
        type=float,
        default=default(ExportOptions, "tolerance"),
        help="largest allowed max abs difference",
    )
    export.add_argument("--finetune", type=int, default=0, metavar="N", help="fine-tune the subnet N epochs first")
    export.add_argument(
        "--lr",
        type=float,
        default=default(ExportOptions, "finetune_lr"),
        help="fine-tuning learning rate (SGD, cosine)",
    )
    export.add_argument(
        "--batch-size", type=int, default=default(ExportOptions, "finetune_batch"), help="fine-tuning batch size"
    )
    export.add_argument("--seed", type=int, default=default(ExportOptions, "seed"), help="fine-tuning data order")
    export.add_argument("--threads", type=int, default=0, help="CPU threads for latency (0: torch's default)")
    export.add_argument("--no-latency", action="store_true", help="skip the latency measurements")
    export.set_defaults(func=lambda a: emit_report(a, _export(a)))
