"""The parts of a ResNet subnet (stem with its max pool, bottlenecks at their input sizes, head): what latency
tables time, what the memory estimates compose, and the memoized MAC and parameter counts built on them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from nas.supernet.families.resnet.static import (
    BlockSpec,
    Bottleneck,
    Head,
    ResNetSubnet,
    Stem,
    StemSpec,
    block_plan,
    stem_spec,
)
from nas.supernet.part_costs import parts_macs, parts_params
from nas.supernet.parts import PartModel, SubnetPart
from search_spaces import Arch, ResNetSpace

__all__ = ["ResNetParts", "build_part", "distinct_parts", "subnet_macs", "subnet_params", "subnet_parts"]


def _conv_output(size: int, stride: int) -> int:
    """Output size of a 3x3 convolution or pool with padding 1 (and of the ceil-mode shortcut pool)."""
    return (size - 1) // stride + 1


def build_part(part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
    """A freshly initialised eval-mode module for ``part`` (its input is ``(batch, channels, size, size)``)."""
    options = dict(part.spec)
    if part.kind == "block":
        module: nn.Module = Bottleneck(BlockSpec(**options), device)
    elif part.kind == "head":
        module = Head(part.channels, options["classes"], options["dropout"], device)
    else:
        module = Stem(StemSpec(**options), device)
    return module.eval()


def subnet_parts(space: ResNetSpace, arch: Arch, num_classes: int, dropout: float = 0.0) -> list[SubnetPart]:
    """Every module of ``arch``'s static subnet at its input size, in forward order (their sequence is the net)."""
    size = int(arch["resolution"])
    stem = stem_spec(space, arch)
    parts = [SubnetPart("stem", tuple(asdict(stem).items()), 3, size)]
    size = _conv_output(size, stem.stride)
    if stem.max_pool:
        size = _conv_output(size, 2)
    plan = block_plan(space, arch)
    for block in plan:
        parts.append(SubnetPart("block", tuple(asdict(block).items()), block.in_channels, size))
        size = _conv_output(size, block.stride)
    parts.append(SubnetPart("head", (("classes", num_classes), ("dropout", dropout)), plan[-1].out_channels, size))
    return parts


def subnet_params(space: ResNetSpace, arch: Arch, num_classes: int) -> int:
    """Parameter count of ``arch``'s static subnet, from memoized per-module counts (no extraction needed)."""
    return parts_params(build_part, subnet_parts(space, arch, num_classes))


def subnet_macs(space: ResNetSpace, arch: Arch, num_classes: int) -> int:
    """MACs of ``arch`` at its resolution and batch 1, equal to ``FlopCounterMode`` on the whole subnet / 2
    (counted module by module with memoized per-shape counts, so it costs microseconds once warm)."""
    return parts_macs(build_part, subnet_parts(space, arch, num_classes))


def distinct_parts(space: ResNetSpace, num_classes: int) -> list[SubnetPart]:
    """Every distinct part the space's archs can contain, in a stable order.

    A block's shape depends on its input width (the previous block's or stem's width choice), its own width and
    expand ratio, and its input size (the resolution); they are found from a covering set of archs: per
    resolution, stem width and per-stage input/output width pair and expand ratio, the deepest arch. That
    yields every first block (each input/output width pair), later block, stem variant and head.
    """
    seen: dict[str, SubnetPart] = {}
    n_stages = len(space.stages)
    mults = space.width_mults
    for resolution in space.resolutions:
        for stem_depth in (2, 3):
            for stem_mid in mults:
                for width_in in mults:
                    for width_out in mults:
                        for expand in space.expand_ratios:
                            values: dict[str, Any] = {
                                "resolution": resolution,
                                "stem_depth": stem_depth,
                                "stem_mid_width": stem_mid,
                                "stem_width": width_in,
                            }
                            for stage in range(1, n_stages + 1):
                                # alternate widths so every (input width, output width) pair meets at a stage start
                                values[space.width_label(stage)] = width_out if stage % 2 else width_in
                                values[space.depth_label(stage)] = space.max_blocks(stage)
                                for block in range(1, space.max_blocks(stage) + 1):
                                    values[space.block_label(stage, block, "expand")] = expand
                            for part in subnet_parts(space, space.validate(values), num_classes):
                                seen.setdefault(part.key, part)
    return list(seen.values())


class ResNetParts(PartModel):
    """The latency parts of a ResNet space (registered as the family's ``parts``)."""

    space: ResNetSpace

    def parts(self, arch: Arch) -> list[SubnetPart]:
        return subnet_parts(self.space, arch, self.num_classes)

    def distinct_parts(self) -> list[SubnetPart]:
        return distinct_parts(self.space, self.num_classes)

    def build(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        return build_part(part, device)

    def subnet(self, arch: Arch) -> nn.Module:
        return ResNetSubnet(self.space, arch, self.num_classes).eval()
