"""``nas import ofa`` and ``nas import timm``: once-for-all's published ImageNet supernets, and elastic supernets
made from timm models, as this platform's supernet files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.cli.common import Commands, actions, emit
from nas.supernet import from_timm
from nas.supernet.base import Supernet
from nas.supernet.checkpoint import save_supernet
from nas.supernet.importing import import_ofa
from nas.supernet.registry import family_of, list_published, published_net

__all__ = ["register"]


def _import_ofa(args: argparse.Namespace) -> int:
    net = published_net(args.net)
    out = Path(args.out) if args.out else Path("runs") / "imports" / f"{net.name}.pt"
    print(f"importing {args.file} as {net.name} (space {net.space}) ...", file=sys.stderr)
    supernet = import_ofa(args.file, net.name, out)
    return emit(args, _summary(supernet, net.name, out), _render)


def _import_timm(args: argparse.Namespace) -> int:
    print(f"building the elastic supernet of timm's {args.model} ...", file=sys.stderr)
    supernet = from_timm(args.model, weights=args.weights, num_classes=args.num_classes)
    out = Path(args.out) if args.out else Path("runs") / "imports" / f"{supernet.space.name}.pt"
    save_supernet(supernet, out)
    report = _summary(supernet, args.model, out)
    report["weights_file"] = args.weights
    return emit(args, report, _render)


def _summary(supernet: Supernet, net: str, out: Path) -> dict[str, Any]:
    space = supernet.space
    return {
        "net": net,
        "space": space.name,
        "family": family_of(space).name,  # type: ignore[union-attr]
        "num_classes": supernet.num_classes,
        "supernet_file": str(out),
        "weights": sum(tensor.numel() for tensor in supernet.parameters()),
        "largest": {"macs": supernet.macs(space.largest()), "params": supernet.params(space.largest())},
        "smallest": {"macs": supernet.macs(space.smallest()), "params": supernet.params(space.smallest())},
    }


def _render(report: dict[str, Any]) -> None:
    print(
        f"wrote {report['supernet_file']}: {report['net']} as a {report['space']} supernet "
        f"({report['weights']:,} weights, {report['num_classes']} classes)\n"
        f"  largest subnet {report['largest']['macs'] / 1e6:.0f} M MACs, {report['largest']['params'] / 1e6:.2f} M "
        f"params; smallest {report['smallest']['macs'] / 1e6:.0f} M MACs, "
        f"{report['smallest']['params'] / 1e6:.2f} M params\n"
        f"  next: nas arch show largest --space {report['space']}, nas profile --space {report['space']}, "
        f"nas search --supernet {report['supernet_file']}"
    )


def register(commands: Commands) -> None:
    """Add ``nas import ofa``."""
    parser = commands.add(
        "import",
        "import a published supernet (once-for-all's ImageNet nets)",
        "Convert a supernet published by another tool into this platform's supernet file, which every command "
        "reads. The file is checked key by key before anything is written.",
    )
    action = actions(parser)
    ofa = action("ofa", "import one of once-for-all's published ImageNet supernets")
    ofa.description = (
        "Read a checkpoint of once-for-all's published supernets as downloaded (torch.save of {'state_dict': ...} "
        "or a bare state dict; old '.mobile_inverted_conv.' keys and a 'module.' prefix are accepted; loaded with "
        "weights_only=True, nothing in it is run) and write it as a supernet file. A file of another net, or with a "
        "missing, extra or differently shaped key, is refused with the first such key and nothing is written."
    )
    ofa.add_argument("file", help="the downloaded checkpoint, e.g. ofa_mbv3_d234_e346_k357_w1.0 (no extension)")
    ofa.add_argument("--net", required=True, choices=list_published(), help="which published net the file is")
    ofa.add_argument("--out", help="supernet file to write (default: runs/imports/NET.pt)")
    ofa.set_defaults(func=_import_ofa)
    timm = action("timm", "make an elastic supernet of a timm model (kernel, expand ratio and depth elastic)")
    timm.description = (
        "Parse a timm model's arch_def (MobileNetV3, EfficientNet, MnasNet, FBNetV3, MobileNetV4-Conv, ...) into an "
        "elastic supernet that keeps timm's parameter names: every subnet extracts as an instance of timm's own "
        "class, and `nas export --format timm` writes it as one. With --weights (the timm model's state dict as "
        "safetensors or a torch file, e.g. the file its pretrained_cfg names; nothing is downloaded) the subnet "
        "equal to the original arch_def computes the original model exactly. Models with features that cannot be "
        "elastic (mixed kernels, CondConv, attention blocks, 'same' padding) are refused by name."
    )
    timm.add_argument("model", help="a timm model name (e.g. efficientnet_b0) or a timm_* space name")
    timm.add_argument("--weights", help="the timm model's weights file (default: timm's random initialisation)")
    timm.add_argument("--num-classes", type=int, default=1000, help="classifier outputs (default 1000)")
    timm.add_argument("--out", help="supernet file to write (default: runs/imports/SPACE.pt)")
    timm.set_defaults(func=_import_timm)
