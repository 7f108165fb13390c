"""The parts of a MobileNetV3 subnet (stem, blocks at their input sizes, head): what latency tables time, what the
memory estimates compose, and the memoized MAC and parameter counts built on them."""

from __future__ import annotations

import torch
from torch import nn

from nas.supernet.families.mobilenetv3.static import ConvBnAct, MBConvBlock, MobileNetV3Subnet, block_plan
from nas.supernet.part_costs import parts_macs, parts_params
from nas.supernet.parts import PartModel, SubnetPart
from search_spaces import Arch, MobileNetV3Space

__all__ = ["MobileNetV3Parts", "build_part", "distinct_parts", "subnet_macs", "subnet_params", "subnet_parts"]


def _output_size(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def build_part(part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
    """A freshly initialised eval-mode module for ``part`` (its input is ``(batch, channels, size, size)``)."""
    options = dict(part.spec)
    with torch.device(device or "cpu"):
        if part.kind == "block":
            module: nn.Module = MBConvBlock(**options)
        elif part.kind == "head":
            module = nn.Sequential(
                ConvBnAct(part.channels, options["expand"], 1, act="hswish"),
                nn.AdaptiveAvgPool2d(1),
                ConvBnAct(options["expand"], options["last"], 1, act="hswish", batch_norm=False),
                nn.Flatten(),
                nn.Dropout(0.1),  # as in the subnet: an identity at inference, a saved mask in training
                nn.Linear(options["last"], options["classes"]),
            )
        else:
            module = ConvBnAct(part.channels, options["width"], 3, options["stride"], act="hswish")
    return module.eval()


def subnet_parts(space: MobileNetV3Space, arch: Arch, num_classes: int) -> list[SubnetPart]:
    """Every module of ``arch``'s static subnet at its input size, in forward order (their sequence is the net)."""
    size = int(arch["resolution"])
    parts = [SubnetPart("stem", (("width", space.stem_width), ("stride", space.stem_stride)), 3, size)]
    size = _output_size(size, 3, space.stem_stride)
    first = (
        ("in_channels", space.stem_width),
        ("out_channels", space.first_block_width),
        ("kernel_size", 3),
        ("hidden", space.stem_width),
        ("stride", 1),
        ("act", "relu"),
        ("squeeze_excite", False),
        ("expand_layer", False),
    )
    parts.append(SubnetPart("block", first, space.stem_width, size))
    for spec in block_plan(space, arch):
        parts.append(SubnetPart("block", tuple(spec.items()), int(spec["in_channels"]), size))
        size = _output_size(size, int(spec["kernel_size"]), int(spec["stride"]))
    head = (("expand", space.final_expand_width), ("last", space.last_channel), ("classes", num_classes))
    parts.append(SubnetPart("head", head, space.stages[-1].width, size))
    return parts


def subnet_params(space: MobileNetV3Space, arch: Arch, num_classes: int) -> int:
    """Parameter count of ``arch``'s static subnet, from memoized per-module counts (no extraction needed)."""
    return parts_params(build_part, subnet_parts(space, arch, num_classes))


def subnet_macs(space: MobileNetV3Space, arch: Arch, num_classes: int) -> int:
    """MACs of ``arch`` at its resolution and batch 1, equal to ``FlopCounterMode`` on the whole subnet / 2.

    Counted module by module with memoized per-shape counts, so it costs microseconds once warm (the MACs-prior
    sampler and budget checks call it for every candidate).
    """
    return parts_macs(build_part, subnet_parts(space, arch, num_classes))


def distinct_parts(space: MobileNetV3Space, num_classes: int) -> list[SubnetPart]:
    """Every distinct part the space's archs can contain, in a stable order.

    They are found from a covering set of archs: at every resolution, for every kernel and expand ratio, the
    deepest arch using that choice everywhere. That yields each block shape (a stage's first block and its later
    blocks differ) at every input size, plus the stem and head per resolution.
    """
    seen: dict[str, SubnetPart] = {}
    for resolution in space.resolutions:
        for kernel in space.kernel_sizes:
            for expand in space.expand_ratios:
                values: dict[str, int] = {"resolution": resolution}
                for stage in range(1, len(space.stages) + 1):
                    values[space.depth_label(stage)] = space.max_depth
                    for block in range(1, space.max_depth + 1):
                        values[space.block_label(stage, block, "kernel")] = kernel
                        values[space.block_label(stage, block, "expand")] = expand
                for part in subnet_parts(space, space.validate(values), num_classes):
                    seen.setdefault(part.key, part)
    return list(seen.values())


class MobileNetV3Parts(PartModel):
    """The latency parts of a MobileNetV3 space (registered as the family's ``parts``)."""

    space: MobileNetV3Space

    def parts(self, arch: Arch) -> list[SubnetPart]:
        return subnet_parts(self.space, arch, self.num_classes)

    def distinct_parts(self) -> list[SubnetPart]:
        return distinct_parts(self.space, self.num_classes)

    def build(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        return build_part(part, device)

    def subnet(self, arch: Arch) -> nn.Module:
        return MobileNetV3Subnet(self.space, arch, self.num_classes).eval()
