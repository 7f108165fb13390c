"""``nas spiking``: cost reports of spiking subnets, conversion checks and ANN-to-SNN conversion."""

from __future__ import annotations

import argparse
from typing import Any

from nas.cli.common import Commands, add_data_arguments, emit, load_data
from nas.data import DataSplits
from nas.layers.convertible import check_conversion_friendly
from nas.spiking.conversion import evaluate_conversion
from nas.spiking.energy import ann_comparison, training_activation_bytes
from nas.spiking.evaluation import evaluate_timesteps, require_spiking
from nas.supernet.base import Supernet
from nas.supernet.checkpoint import load_supernet
from nas.supernet.families.spiking.costs import EnergyCosts, membrane_bytes
from nas.training.evaluation import SPLITS, resize
from search_spaces import Arch
from search_spaces.parsing import parse_arch

__all__ = ["register"]

_HELP = """\
report   a spiking subnet at every T in one pass (test accuracy, SynOps by rate model and counted from the actual
         spikes, energy, firing rate per layer), its membrane memory and training memory vs T, and the bit budget
         beside the INT8 and FP32 ANN of the same shape, with a plain verdict when the SNN does not pay.
check    whether a supernet's subnet converts to an SNN (conversion-friendly layers only); exit code 2 naming
         the first layer that does not, and why.
convert  ANN-to-SNN conversion of a qcfs_resnet subnet: ANN accuracy, converted accuracy at each --timesteps
         (one pass at the largest), and the smallest T within --tolerance of the ANN (the recommended T).

Energy per op (45 nm, Horowitz ISSCC 2014): AC 0.9 pJ (fp32 add), MAC 4.6 pJ (fp32 mult + add), INT8 MAC
0.23 pJ (int8 mult 0.2 + add 0.03); override with --ac-pj, --mac-pj, --int8-mac-pj."""


def _load(args: argparse.Namespace) -> tuple[Supernet, Arch, DataSplits]:
    supernet = load_supernet(args.supernet).eval()
    return supernet, parse_arch(args.arch, supernet.space), load_data(args)


def _report(args: argparse.Namespace) -> dict[str, Any]:
    costs = EnergyCosts(args.ac_pj, args.mac_pj, args.int8_mac_pj)
    supernet, arch, data = _load(args)
    require_spiking(supernet)
    space = supernet.space
    results, counts = evaluate_timesteps(supernet, arch, data, args.split, costs=costs)
    assert counts is not None
    steps = space.timesteps_of(arch)
    comparison = ann_comparison(space, arch, supernet.num_classes, counts, steps, costs)
    batch = resize(data.train.images[: args.memory_batch], int(arch["resolution"]))
    subnet = supernet.extract(space.with_timesteps(arch, space.max_timesteps))
    per_t = []
    for t, result in results.items():
        per_t.append(
            {
                **result.as_dict(),
                "training_activation_bytes": training_activation_bytes(subnet, batch, t) // len(batch),
            }
        )
    return {
        "arch": arch.to_dict(),
        "timesteps": steps,
        "split": args.split,
        "per_timesteps": per_t,
        "firing_rates": counts.firing_rates(steps),
        "membrane_bytes": membrane_bytes(space, arch, supernet.num_classes),
        **comparison,
    }


def _render_report(report: dict[str, Any]) -> None:
    print(f"spiking subnet at T={report['timesteps']} ({report['split']} split); every T from one pass:")
    header = ("T", "acc %", "SynOps(rate)", "SynOps(count)", "energy nJ", "rate", "train KiB/img")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (3, 7, 13, 14, 10, 6, 14))))
    for row in report["per_timesteps"]:
        print(
            f"{row['timesteps']:>3} {100 * row['accuracy']:>7.2f} {row['synops']:>13.4g} {row['synops_exact']:>14.4g} "
            f"{row['energy_exact_pj'] / 1e3:>10.1f} {row['firing_rate']:>6.3f} "
            f"{row['training_activation_bytes'] / 1024:>14.1f}"
        )
    print("firing rate of each layer's input: " + ", ".join(f"{k} {v:.3f}" for k, v in report["firing_rates"].items()))
    print(f"membrane state: {report['membrane_bytes'] / 1024:.1f} KiB per image (fp32), held across all T steps")
    snn, int8, fp32 = (report[k] / 1e3 for k in ("snn_energy_pj", "int8_ann_energy_pj", "fp32_ann_energy_pj"))
    print(
        f"energy per image: SNN {snn:.1f} nJ, INT8 ANN {int8:.1f} nJ, FP32 ANN {fp32:.1f} nJ; activation bits: "
        f"SNN {report['snn_activation_bits']:g} (T x 1), INT8 8, FP32 32"
    )
    print(f"verdict: {report['verdict']}")


def _check(args: argparse.Namespace) -> dict[str, Any]:
    supernet = load_supernet(args.supernet)
    arch = parse_arch(args.arch, supernet.space)
    check_conversion_friendly(supernet.extract(arch))
    return {"space": supernet.space.name, "arch": arch.to_dict(), "conversion_friendly": True}


def _convert(args: argparse.Namespace) -> dict[str, Any]:
    supernet, arch, data = _load(args)
    result = evaluate_conversion(
        supernet, arch, data, args.split, tuple(args.timesteps), args.thresholds, args.tolerance
    )
    return result.as_dict()


def _render_convert(report: dict[str, Any]) -> None:
    print(f"ANN accuracy {100 * report['ann_accuracy']:.2f}% (thresholds: {report['thresholds']})")
    for steps, accuracy in report["snn_accuracy"].items():
        print(f"  SNN T={steps:>3}: {100 * accuracy:.2f}%  (gap {100 * (report['ann_accuracy'] - accuracy):+.2f})")
    recommended = report["recommended_timesteps"]
    if recommended is None:
        print(f"no T tried is within {100 * report['tolerance']:.1f} points of the ANN: the conversion does not pay")
    else:
        print(f"recommended T={recommended}: gap {100 * report['gap_at_recommended']:.2f} points")


def register(commands: Commands) -> None:
    """Add ``nas spiking report|check|convert``."""
    spiking = commands.add(
        "spiking", "spiking subnets: cost report, conversion check, ANN-to-SNN conversion", _HELP, raw=True
    )
    spiking.add_argument("action", choices=["report", "check", "convert"])
    spiking.add_argument("--supernet", required=True, help="supernet.pt (spiking_resnet, or qcfs_resnet to convert)")
    spiking.add_argument("--arch", default="largest", help="smallest, largest, a JSON file or inline JSON")
    add_data_arguments(spiking, resolution=16, calibration=False)
    spiking.add_argument("--split", default="test", choices=SPLITS)
    spiking.add_argument("--ac-pj", type=float, default=0.9, help="energy of one accumulate")
    spiking.add_argument("--mac-pj", type=float, default=4.6, help="energy of one fp32 multiply-accumulate")
    spiking.add_argument("--int8-mac-pj", type=float, default=0.23, help="energy of one INT8 multiply-accumulate")
    spiking.add_argument("--memory-batch", type=int, default=8, help="images for the training-memory measurement")
    spiking.add_argument("--timesteps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="convert: T tried")
    spiking.add_argument("--thresholds", choices=["learned", "percentile"], default="learned")
    spiking.add_argument("--tolerance", type=float, default=0.01, help="convert: accuracy gap accepted")

    def run(args: argparse.Namespace) -> int:
        if args.action == "report":
            emit(args, _report(args), _render_report)
        elif args.action == "check":
            emit(args, _check(args), lambda r: print(f"{r['space']}: conversion-friendly"))
        else:
            emit(args, _convert(args), _render_convert)
        return 0

    spiking.set_defaults(func=run)
