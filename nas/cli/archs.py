"""``nas spaces`` (the registered spaces and their families) and ``nas arch sample | show``."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from typing import Any

from nas.cli.common import Commands, handled, mib, table
from nas.supernet.registry import cost_model, family_of
from search_spaces import ConfigError, get_space, list_spaces
from search_spaces.parsing import parse_arch

__all__ = ["register"]


def _spaces(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for name in list_spaces():
        space = get_space(name)
        decisions = space.decisions()
        family = family_of(space)
        rows.append(
            {
                "space": name,
                "decisions": len(decisions),
                "choices_per_decision": f"{min(len(d.choices) for d in decisions)}-"
                f"{max(len(d.choices) for d in decisions)}",
                "log10_archs": round(math.log10(space.count()), 1),
                "supernet": family is not None,
                "family": family.name if family is not None else "",
            }
        )
    return {"spaces": rows}


def _render_spaces(report: dict[str, Any]) -> None:
    columns = [
        ("space", "space"),
        ("decisions", "decisions"),
        ("choices_per_decision", "choices"),
        ("log10_archs", "log10 #archs"),
        ("supernet", "supernet"),
        ("family", "family"),
    ]
    print(table(report["spaces"], columns))


def _archs(args: argparse.Namespace) -> dict[str, Any]:
    space = get_space(args.space)
    if args.action == "sample":
        rng = random.Random(args.seed)
        archs = [space.sample(rng) for _ in range(args.n)]
    else:
        if not args.arch:
            raise ConfigError("nas arch show needs ARCH (smallest, largest, a JSON file or inline JSON)", field="arch")
        archs = [parse_arch(text, space) for text in args.arch]
    costs = cost_model(space, args.num_classes) if family_of(space) is not None else None
    rows = []
    for arch in archs:
        row: dict[str, Any] = {"key": arch.key, "arch": arch.to_dict()}
        if space.ofa_keys:
            row["ofa_config"] = space.to_ofa_config(arch)
        if costs is not None:
            row["macs"] = costs.macs(arch)
            row["params"] = costs.params(arch)
            row["memory"] = costs.memory_report(arch)
        rows.append(row)
    return {"space": args.space, "num_classes": args.num_classes, "archs": rows}


def _render_archs(report: dict[str, Any]) -> None:
    for row in report["archs"]:
        print(json.dumps({"space": report["space"], **row["arch"]}))
        if "macs" not in row:
            continue
        lines = [
            f"  key={row['key']}  MACs={row['macs']:,}  params={row['params']:,}  (num_classes={report['num_classes']})"
        ]
        memory = row["memory"]
        if memory is not None:
            lines.append(
                f"  memory: weights {mib(memory['weights_bytes_fp32'])} fp32 / {mib(memory['weights_bytes_int8'])} "
                f"int8, inference peak {mib(memory['inference_peak_bytes'])}, MCUNet int8 peak "
                f"{mib(memory['mcunet_int8_peak_bytes'])}, training (batch 2, SGD momentum) "
                f"{mib(memory['training']['total_bytes'])}"
            )
        print("\n".join(lines), file=sys.stderr)


def register(commands: Commands) -> None:
    """Add ``nas spaces`` and ``nas arch``."""
    spaces = commands.add("spaces", "list search spaces and supernets", "List registered search spaces.")
    spaces.set_defaults(func=handled(_spaces, _render_spaces))
    arch = commands.add(
        "arch",
        "sample or inspect architectures",
        "`nas arch sample --space S -n 5` draws random archs; `nas arch show ARCH --space S` validates "
        "an arch (labels JSON, OFA config, file, smallest, largest) and prints its OFA config, MACs, "
        "parameters and memory.",
    )
    arch.add_argument("action", choices=["sample", "show"])
    arch.add_argument("arch", nargs="*", help="for show: smallest, largest, a JSON file or inline JSON")
    arch.add_argument("--space", default="ofa_mbv3", help="search space name")
    arch.add_argument("-n", type=int, default=1, help="how many to sample")
    arch.add_argument("--seed", type=int, default=0)
    arch.add_argument("--num-classes", type=int, default=1000, help="classes, for MACs and parameter counts")
    arch.set_defaults(func=handled(_archs, _render_archs))
