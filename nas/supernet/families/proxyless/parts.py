"""The parts of a ProxylessNAS subnet (stem, blocks at their input sizes, head): what latency tables time, what the
memory estimates compose, and the memoized MAC and parameter counts built on them."""

from __future__ import annotations

import torch
from torch import nn

from nas.supernet.families.mobilenetv3.static import ConvBnAct, MBConvBlock
from nas.supernet.families.proxyless.static import (
    ACTIVATION,
    BN_EPS,
    ProxylessSubnet,
    block_plan,
    first_block_spec,
    head,
)
from nas.supernet.part_costs import parts_macs, parts_params
from nas.supernet.parts import PartModel, SubnetPart
from search_spaces import Arch, ProxylessSpace

__all__ = ["ProxylessParts", "build_part", "distinct_parts", "subnet_macs", "subnet_params", "subnet_parts"]


def _output_size(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def build_part(part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
    """A freshly initialised eval-mode module for ``part`` (its input is ``(batch, channels, size, size)``)."""
    options = dict(part.spec)
    with torch.device(device or "cpu"):
        if part.kind == "block":
            module: nn.Module = MBConvBlock(**options)
        elif part.kind == "head":
            feature_mix, dropout, classifier = head(part.channels, options["last"], options["classes"], 0.1)
            # as in the subnet: pool after the feature mix; dropout is an identity at inference
            module = nn.Sequential(feature_mix, nn.AdaptiveAvgPool2d(1), nn.Flatten(), dropout, classifier)
        else:
            module = ConvBnAct(part.channels, options["width"], 3, options["stride"], act=ACTIVATION, eps=BN_EPS)
    return module.eval()


def subnet_parts(space: ProxylessSpace, arch: Arch, num_classes: int) -> list[SubnetPart]:
    """Every module of ``arch``'s static subnet at its input size, in forward order (their sequence is the net)."""
    size = int(arch["resolution"])
    parts = [SubnetPart("stem", (("width", space.stem_width), ("stride", space.stem_stride)), 3, size)]
    size = _output_size(size, 3, space.stem_stride)
    parts.append(SubnetPart("block", tuple(first_block_spec(space).items()), space.stem_width, size))
    for spec in block_plan(space, arch):
        parts.append(SubnetPart("block", tuple(spec.items()), int(spec["in_channels"]), size))
        size = _output_size(size, int(spec["kernel_size"]), int(spec["stride"]))
    parts.append(
        SubnetPart("head", (("last", space.last_channel), ("classes", num_classes)), space.stages[-1].width, size)
    )
    return parts


def subnet_params(space: ProxylessSpace, arch: Arch, num_classes: int) -> int:
    """Parameter count of ``arch``'s static subnet, from memoized per-module counts (no extraction needed)."""
    return parts_params(build_part, subnet_parts(space, arch, num_classes))


def subnet_macs(space: ProxylessSpace, arch: Arch, num_classes: int) -> int:
    """MACs of ``arch`` at its resolution and batch 1, equal to ``FlopCounterMode`` on the whole subnet / 2
    (counted module by module with memoized per-shape counts: microseconds once warm)."""
    return parts_macs(build_part, subnet_parts(space, arch, num_classes))


def distinct_parts(space: ProxylessSpace, num_classes: int) -> list[SubnetPart]:
    """Every distinct part the space's archs can contain, in a stable order.

    Found from a covering set of archs: at every resolution, for every kernel and expand ratio, the deepest arch
    using that choice everywhere (a stage's first block and its later blocks differ), plus stem and head.
    """
    seen: dict[str, SubnetPart] = {}
    for resolution in space.resolutions:
        for kernel in space.kernel_sizes:
            for expand in space.expand_ratios:
                values: dict[str, int] = {"resolution": resolution}
                for stage in range(1, len(space.stages) + 1):
                    if space.stages[stage - 1].fixed_depth is None:
                        values[space.depth_label(stage)] = space.max_depth
                    for block in range(1, space.stage_slots(stage) + 1):
                        values[space.block_label(stage, block, "kernel")] = kernel
                        values[space.block_label(stage, block, "expand")] = expand
                for part in subnet_parts(space, space.validate(values), num_classes):
                    seen.setdefault(part.key, part)
    return list(seen.values())


class ProxylessParts(PartModel):
    """The latency parts of a ProxylessNAS space (registered as the family's ``parts``)."""

    space: ProxylessSpace

    def parts(self, arch: Arch) -> list[SubnetPart]:
        return subnet_parts(self.space, arch, self.num_classes)

    def distinct_parts(self) -> list[SubnetPart]:
        return distinct_parts(self.space, self.num_classes)

    def build(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        return build_part(part, device)

    def subnet(self, arch: Arch) -> nn.Module:
        return ProxylessSubnet(self.space, arch, self.num_classes).eval()
