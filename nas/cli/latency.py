"""``nas profile`` (build a device's latency table) and ``nas latency validate | predict`` (use one)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from nas.cli.common import Commands, actions, emit, emit_report, fmt, table
from nas.profile.few_shot import profile_few_shot, validate_transfer
from nas.profile.inventory import device_rows
from nas.profile.remote import ProfileRequest, profile_on, remote_table_path
from nas.profile.tables import default_table_path, profile_table
from nas.profile.timers import DEVICES, Timer, create_timer
from nas.profile.validation import validate_table, validation_text
from nas.supernet.latency import LatencyModel
from predictors.latency import LatencyTable
from search_spaces import ConfigError, get_space
from search_spaces.atomic import atomic_write_json
from search_spaces.parsing import parse_arch

__all__ = ["register"]


def _timer(device: str, threads: int | None, cuda_graphs: bool, args: argparse.Namespace) -> Timer:
    options = {"min_repeats": args.repeats, "min_seconds": args.min_time, "rounds": args.rounds}
    return create_timer(device, threads or None, cuda_graphs=cuda_graphs, **options)


def _fresh_out(out: Path, overwrite: bool) -> Path:
    """``out``, unless a file is there and ``--overwrite`` was not given."""
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it", field="out", value=str(out))
    return out


def _profile_few_shot(args: argparse.Namespace) -> dict[str, Any]:
    """Measure --few-shot K subnets here and write the transfer file that predicts the rest from --sources."""
    if not args.sources:
        raise ConfigError("--few-shot K needs --sources TABLE... (other devices' tables of the space)", field="sources")
    if args.on:
        raise ConfigError("--few-shot measures this machine; it does not combine with --on", field="on")
    space = get_space(args.space)
    default = default_table_path(args.device, space.name, args.batch).with_suffix(f".fewshot{args.few_shot}.json")
    out = _fresh_out(Path(args.out) if args.out else default, args.overwrite)
    timer = _timer(args.device, args.threads, args.cuda_graphs, args)
    started = time.perf_counter()
    measured = profile_few_shot(
        space, timer, args.batch, args.num_classes, args.few_shot, args.sources, args.seed, not args.json
    )
    report: dict[str, Any] = {
        "table": str(out),
        "space": space.name,
        "device": measured.device,
        "device_name": measured.machine.get("name"),
        "batch": measured.batch,
        "shots": args.few_shot,
        "sources": measured.sources,
        "profile_seconds": round(time.perf_counter() - started, 1),
    }
    if args.validate:
        report.update(validate_transfer(measured, space, timer, args.validate, args.seed + 1, not args.json))
    measured.save(out)
    return report


def _int8_device(args: argparse.Namespace) -> None:
    """``--int8`` turns ``--device onnxruntime`` into its int8 runtime, ``onnxruntime-int8``."""
    if not args.int8 or args.device == "onnxruntime-int8":
        return
    if args.device != "onnxruntime":
        raise ConfigError(
            f"--int8 profiles ONNX Runtime's int8 kernels: use it with --device onnxruntime, not {args.device!r}",
            field="device",
            value=args.device,
            allowed=["onnxruntime"],
        )
    args.device = "onnxruntime-int8"


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    _int8_device(args)
    if args.few_shot:
        return _profile_few_shot(args)
    if args.sources:
        raise ConfigError("--sources are the tables a --few-shot K profile transfers from", field="sources")
    if args.on:
        return _profile_remote(args)
    if args.ray_address:
        raise ConfigError(
            "--ray-address profiles on a cluster's device: name it with --on RESOURCE", field="on", value=None
        )
    space = get_space(args.space)
    out = _fresh_out(
        Path(args.out) if args.out else default_table_path(args.device, space.name, args.batch), args.overwrite
    )
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
    report.update(_model_summary(table))
    if args.validate:
        validate_table(table, space, timer, args.validate, args.seed + 1, not args.json)
        table.save(out)
        report.update(table.validation)
    return report


def _profile_remote(args: argparse.Namespace) -> dict[str, Any]:
    """Profile on the Ray nodes advertising ``--on``'s resources, in parallel; write each table here."""
    space = get_space(args.space)
    if args.out and len(args.on) > 1:
        raise ConfigError("--out names one table; profiling on several devices writes one each", field="out")
    request = ProfileRequest(
        space.name, args.device, args.batch, args.num_classes, args.calibration, args.seed, args.threads or None,
        args.cuda_graphs, {"min_repeats": args.repeats, "min_seconds": args.min_time, "rounds": args.rounds},
        args.validate,
    )  # fmt: skip
    outs = {resource: Path(args.out) if args.out else remote_table_path(resource, request) for resource in args.on}
    for out in outs.values():
        _fresh_out(out, args.overwrite)
    started = time.perf_counter()
    tables = profile_on(args.on, request, args.ray_address)
    rows = []
    for resource, payload in tables.items():
        atomic_write_json(outs[resource], payload)
        written = LatencyTable.load(outs[resource], space=space.name)
        row = {
            "on": resource,
            "table": str(outs[resource]),
            "host": written.machine.get("host"),
            "device_name": written.machine.get("name"),
            "parts": len(written.entries),
            **_model_summary(written),
        }
        if written.validation:
            row.update(mape=written.validation["mape"], floor_mape=written.validation["floor_mape"])
        rows.append(row)
    seconds = round(time.perf_counter() - started, 1)
    return {"space": space.name, "device": args.device, "batch": args.batch, "seconds": seconds, "devices": rows}


def _render_remote(report: dict[str, Any]) -> None:
    if "devices" not in report:
        _render_profile(report)
        return
    devices = report["devices"]
    print(f"{report['space']} on {len(devices)} device(s), runtime {report['device']}, batch {report['batch']}: ")
    columns = [("on", "on"), ("host", "host"), ("parts", "parts"), ("model", "model"), ("table", "table")]
    if any("mape" in row for row in devices):
        columns += [("mape", "MAPE"), ("floor_mape", "floor MAPE")]
    print(table(devices, columns))
    print(f"{report['seconds']} s")


def _devices(args: argparse.Namespace) -> dict[str, Any]:
    rows, problems = device_rows(args.root)
    return {"root": args.root, "tables": rows, "unreadable": problems}


def _render_devices(report: dict[str, Any]) -> None:
    rows = report["tables"]
    if not rows:
        print(f"no latency tables under {report['root']}: run `nas profile` (add --on RESOURCE for a cluster's device)")
    else:
        columns = [("device", "device"), ("hardware", "hardware"), ("runtime", "runtime"), ("space", "space"),
                   ("batch", "batch"), ("created", "created"), ("model", "model")]  # fmt: skip
        if any("mape" in row for row in rows):
            columns += [("subnets", "validated on"), ("mape", "MAPE"), ("floor_mape", "floor MAPE")]
        print(table(rows, [*columns, ("table", "table")]))
    for problem in report["unreadable"]:
        print(f"skipped {problem}")


def _model_summary(table: LatencyTable) -> dict[str, Any]:
    """How the table was measured and fitted: parts measured again, the model chosen and why."""
    summary: dict[str, Any] = {"remeasured_parts": len(table.machine.get("remeasured", {}))}
    if table.model is not None:
        summary.update(model=table.model.method, model_cv_mape=table.model.cv_mape, model_note=table.model.note)
    return summary


def _validate(args: argparse.Namespace) -> dict[str, Any]:
    table = LatencyTable.load(args.table)
    space = get_space(table.space)
    threads = args.threads or table.machine.get("threads")
    timer = _timer(table.device, threads, bool(table.machine.get("cuda_graphs")), args)
    report = validate_table(table, space, timer, args.n, args.seed, not args.json)
    out = Path(args.table).with_suffix(".validation.json")
    atomic_write_json(out, {"table": args.table, "machine": timer.describe(), **report})
    table.save(args.table)
    return {"table": args.table, "report": str(out), **_model_summary(table), **table.validation}


def _render_profile(report: dict[str, Any]) -> None:
    """The facts of the table, then its validation (when there is one) beside the noise floor."""
    facts = {k: v for k, v in report.items() if not _validation_key(k)}
    print("\n".join(f"{k:>18}: {fmt(v)}" for k, v in facts.items()))
    if "floor_mape" in report and "shots" in report:
        print(
            f"\nfew-shot model on {report['subnets']} fresh subnets: MAPE {100 * report['mape']:.1f} %, Spearman "
            f"{report['spearman']:.3f}; noise floor (round 2 vs 1) {100 * report['floor_mape']:.1f} %, "
            f"{report['floor_spearman']:.3f}: MAPE {report['mape_over_floor']:.2f}x the floor's"
        )
    elif "floor_mape" in report:
        print()
        print(validation_text(report))


def _validation_key(key: str) -> bool:
    stems = ("mape", "within_10pct", "kendall_tau", "spearman", "meets_targets", "_over_floor")
    return (
        key.startswith(("raw_", "floor_", "as_measured_")) or key.endswith(stems) or key in ("at_table_speed", "speed")
    )


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
        "Time every distinct part (stem, block shape at each input size, head) the space can produce with "
        "torch.utils.benchmark (ONNX Runtime: its own sessions; CUDA: optional CUDA graphs), in --rounds rounds "
        "interleaved across parts on pinned threads at raised priority (nice -20 where permitted), so a busy moment "
        "spoils one round of a part, not its median. Parts out of line with their own rounds or with parts of their "
        "kind are measured again, and the table records which. The space's smallest subnet, timed between the "
        "others, puts every timing at the machine speed of profiling. Then measure --calibration random subnets "
        "end to end and fit the latency model (per-part sum, parts, operations, activations; the simplest within "
        "one standard error of the best held-out error, the raw sum when nothing beats it). "
        "--validate N measures N other subnets in two rounds and prints the table's error beside the noise floor "
        "(the rounds' disagreement). Writes runs/latency/<device>-<space>-b<batch>.json.",
    )
    profile.add_argument("--space", default="ofa_mbv3", help="search space (see `nas spaces`)")
    profile.add_argument("--device", default="cpu", choices=DEVICES, help="runtime the table is for")
    profile.add_argument("--batch", type=int, default=1, help="images per call (tables are per batch size)")
    profile.add_argument("--threads", type=int, default=0, help="CPU threads, pinned to as many cores (0: torch's)")
    profile.add_argument("--cuda-graphs", action="store_true", help="CUDA: replay captured graphs (batch 1)")
    profile.add_argument(
        "--int8",
        action="store_true",
        help="with --device onnxruntime: time every part quantized as `nas export --format onnx-int8` quantizes "
        "(the table's device is onnxruntime-int8)",
    )
    profile.add_argument("--num-classes", type=int, default=1000, help="classifier outputs")
    profile.add_argument("--calibration", type=int, default=40, help="end-to-end measurements to fit the latency model")
    profile.add_argument("--repeats", type=int, default=20, help="minimum timed blocks per part, over all rounds")
    profile.add_argument("--rounds", type=int, default=5, help="rounds per part, interleaved across parts")
    profile.add_argument("--min-time", type=float, default=0.1, help="minimum seconds of timed repeats per part")
    profile.add_argument("--validate", type=int, default=0, metavar="N", help="then validate on N other subnets")
    profile.add_argument("--seed", type=int, default=0, help="seed of the part order and the sampled subnets")
    profile.add_argument("--out", help="table file (default: runs/latency/<device>-<space>-b<batch>.json)")
    profile.add_argument("--overwrite", action="store_true", help="replace an existing table file")
    profile.add_argument(
        "--on",
        nargs="+",
        metavar="RESOURCE",
        help="profile on the Ray nodes advertising these custom resources (a device joins with "
        "ray start --address=HEAD --resources='{\"device:pi5\": 1}'), all at once; each table is written here to "
        "runs/latency/<device>/<runtime>-<space>-b<batch>.json",
    )
    profile.add_argument("--ray-address", help="the Ray cluster of the --on devices (HOST:PORT of its head, or auto)")
    profile.add_argument(
        "--few-shot",
        type=int,
        default=0,
        metavar="K",
        help="instead of a table: measure K subnets end to end here and fit the few-shot transfer from --sources "
        "(other devices' tables of the space); searches read the file written like a table",
    )
    profile.add_argument("--sources", nargs="+", metavar="TABLE", help="the source tables of --few-shot")
    profile.set_defaults(func=lambda a: emit(a, _profile(a), _render_remote))

    devices = commands.add(
        "devices",
        "list the latency tables this project holds, per device",
        "One row per latency table under --root (runs/latency, written by `nas profile`, remote devices in a "
        "folder each): the device (the cluster resource it was profiled on, or local), its hardware, runtime, "
        "space, batch, when it was made, the latency model fitted and, when validated, its MAPE beside the noise "
        "floor's. Files that are not readable tables are named and skipped.",
    )
    devices.add_argument("--root", default="runs/latency", help="folder searched recursively for tables")
    devices.set_defaults(func=lambda a: emit(a, _devices(a), _render_devices))

    latency = commands.add(
        "latency",
        "validate a latency table or predict archs' latencies",
        "validate: measure N random subnets end to end (none of them used for the fit) in two rounds and print "
        "MAPE, the share within +/-10%, Kendall tau and Spearman of the table's prediction and of the raw per-part "
        "sum beside the noise floor (round 2 against round 1), the ratios and whether the targets hold; the "
        "figures go into the table, the rows to <table>.validation.json. predict: predicted ms per arch.",
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
    validate.add_argument("--repeats", type=int, default=20, help="minimum timed blocks per subnet and round")
    validate.add_argument("--rounds", type=int, default=5, help="rounds per subnet within each validation round")
    validate.add_argument("--min-time", type=float, default=0.1, help="minimum seconds of timed calls per subnet")
    validate.set_defaults(func=lambda a: emit(a, _validate(a), _render_profile))

    predict = action("predict", "predicted latency of archs")
    predict.add_argument("--arch", nargs="+", required=True, help="smallest, largest, JSON file, inline JSON, OFA")
    predict.set_defaults(func=lambda a: emit_report(a, _predict(a)))
