"""The parts of a timm ``arch_def`` subnet (stem, each block at its input size, head), built from timm's own
modules: what latency tables time, what the memory estimates compose, and what MACs and parameters are summed
from (equal to ``FlopCounterMode`` / ``numel`` on the whole extracted timm model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.supernet.families.timm_blocks.describe import TimmNet, arch_def, block_string, build_timm, model_kwargs
from nas.supernet.families.timm_blocks.spaces import timm_net
from nas.supernet.part_costs import PartChainCosts, PartChainMemory
from nas.supernet.parts import PartModel, SubnetPart
from search_spaces import Arch
from search_spaces.timm_blocks import TimmBlocksSpace

__all__ = ["PartBuilder", "TimmBlocksCosts", "TimmBlocksParts", "block_builder", "distinct_parts", "subnet_parts"]

BlockBuilder = Callable[[int, str, Any], nn.Module]


def block_builder(net: TimmNet) -> BlockBuilder:
    """``(in_channels, block_string, device) -> module``: one eval-mode timm block as ``net``'s class builds it."""
    from timm.models._efficientnet_builder import EfficientNetBuilder, decode_arch_def

    options = model_kwargs(net, [], 1, 0.0)
    settings = {
        "output_stride": 32,
        "pad_type": "",
        "se_from_exp": net.se_from_exp,
        "act_layer": options["act_layer"],
        "norm_layer": options["norm_layer"],
        "se_layer": options["se_layer"],
        "drop_path_rate": 0.0,
        "layer_scale_init_value": net.layer_scale,
    }

    def build(in_channels: int, block: str, device: Any = None) -> nn.Module:
        builder = EfficientNetBuilder(**settings, device=torch.device(device or "cpu"))
        return builder(in_channels, decode_arch_def([[block]]))[0][0].eval()

    return build


class _Head(nn.Module):
    """The classifier head of ``net``'s class: MobileNetV3 pools first (``conv_head``, ``norm_head``, ``act2``),
    EfficientNet applies ``conv_head`` and ``bn2`` before pooling."""

    def __init__(self, net: TimmNet, in_channels: int, num_classes: int, dropout: float):
        from timm.layers import get_act_layer, get_norm_act_layer

        super().__init__()
        options = model_kwargs(net, [], num_classes, dropout)
        norm_act = get_norm_act_layer(options["norm_layer"], options["act_layer"])
        self.efficientnet = net.timm_class == "EfficientNet"
        self.dropout = dropout
        bias = net.head_bias and not net.head_norm and not self.efficientnet
        self.conv_head = nn.Conv2d(in_channels, net.num_features, 1, bias=bias)
        self.norm = norm_act(net.num_features) if self.efficientnet or net.head_norm else nn.Identity()
        self.act = nn.Identity() if self.efficientnet or net.head_norm else get_act_layer(net.act)()
        self.classifier = nn.Linear(net.num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.efficientnet:
            x = self.norm(self.conv_head(x)).mean((2, 3))
        else:
            x = self.act(self.norm(self.conv_head(x.mean((2, 3), keepdim=True)))).flatten(1)
        return self.classifier(F.dropout(x, self.dropout, self.training))


@dataclass(frozen=True)
class PartBuilder:
    """``build(part, device)`` of one network's parts (hashable: the part counters memoize by it)."""

    net: TimmNet

    def __call__(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        from timm.layers import get_norm_act_layer

        options = dict(part.spec)
        if part.kind == "block":
            return block_builder(self.net)(part.channels, options["block"], device)
        with torch.device(device or "cpu"):
            if part.kind == "head":
                return _Head(self.net, part.channels, options["classes"], options["dropout"]).eval()
            norm = model_kwargs(self.net, [], 1, 0.0)
            stem_size, stride = options["width"], options["stride"]
            norm_act = get_norm_act_layer(norm["norm_layer"], norm["act_layer"])
            conv = nn.Conv2d(3, stem_size, self.net.stem_kernel, stride, self.net.stem_kernel // 2, bias=False)
            return nn.Sequential(conv, norm_act(stem_size)).eval()


def _output_size(size: int, stride: int) -> int:
    return (size - 1) // stride + 1  # odd kernels with padding k // 2


def subnet_parts(space: TimmBlocksSpace, arch: Arch, num_classes: int, dropout: float = 0.1) -> list[SubnetPart]:
    """Every module of ``arch``'s subnet at its input size, in forward order."""
    net = timm_net(space)
    size = int(arch["resolution"])
    stem = (("stride", net.stem_stride), ("width", net.stem_size))
    parts = [SubnetPart("stem", stem, 3, size)]
    size = _output_size(size, net.stem_stride)
    channels = net.stem_size
    for stage, blocks in zip(space.stages, net.stages):
        for position in range(1, space.depth(arch, stage) + 1):
            block = blocks[position - 1]
            kernel, expand = space.block_choice(arch, stage, position)
            spec = (("block", block_string(net, block, kernel, float(expand))),)
            parts.append(SubnetPart("block", spec, block.in_channels, size))
            size = _output_size(size, block.stride)
            channels = block.out_channels
    parts.append(SubnetPart("head", (("classes", num_classes), ("dropout", dropout)), channels, size))
    return parts


def distinct_parts(space: TimmBlocksSpace, num_classes: int) -> list[SubnetPart]:
    """Every distinct part the space's archs can contain (every block in each of its configurations, at every
    resolution), in a stable order."""
    net = timm_net(space)
    seen: dict[str, SubnetPart] = {}
    for resolution in space.resolutions:
        largest = subnet_parts(space, space.validate(_deepest(space, resolution)), num_classes)
        seen.setdefault(largest[0].key, largest[0])
        for part, block in zip(largest[1:-1], (b for blocks in net.stages for b in blocks)):
            for kernel in block.kernels:
                for expand in block.expands:
                    spec = (("block", block_string(net, block, kernel, expand)),)
                    found = SubnetPart("block", spec, part.channels, part.size)
                    seen.setdefault(found.key, found)
        seen.setdefault(largest[-1].key, largest[-1])
    return list(seen.values())


def _deepest(space: TimmBlocksSpace, resolution: int) -> dict[str, Any]:
    values: dict[str, Any] = {"resolution": resolution}
    for decision in space.decisions()[1:]:
        values[decision.label] = decision.choices[-1]
    return values


class TimmBlocksParts(PartModel):
    """The latency parts of a timm ``arch_def`` space (registered as the family's ``parts``)."""

    space: TimmBlocksSpace

    def parts(self, arch: Arch) -> list[SubnetPart]:
        return subnet_parts(self.space, arch, self.num_classes)

    def distinct_parts(self) -> list[SubnetPart]:
        return distinct_parts(self.space, self.num_classes)

    def build(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        return PartBuilder(timm_net(self.space))(part, device)

    def subnet(self, arch: Arch) -> nn.Module:
        net = timm_net(self.space)
        return build_timm(net, arch_def(net, self.space, arch), self.num_classes).eval()


class TimmBlocksCosts(PartChainCosts):
    """MACs, parameters and memory of a timm ``arch_def`` space's subnets, from memoized per-part figures."""

    space: TimmBlocksSpace

    def __init__(self, space: TimmBlocksSpace, num_classes: int):
        memory = PartChainMemory(space, num_classes, subnet_parts, PartBuilder(timm_net(space)))
        super().__init__(space, num_classes, memory)
