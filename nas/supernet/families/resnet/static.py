"""Static ResNet building blocks of plain torch layers: what extraction produces and export ships.

A subnet built here has no dynamic operation and no reference to a supernet; it is rebuilt from its space and
arch alone (``ResNetSubnet(space, arch, num_classes)``) and loads its weights with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from search_spaces import Arch, ResNetSpace

__all__ = [
    "BlockSpec",
    "Bottleneck",
    "ConvBn",
    "ResNetSubnet",
    "StemSpec",
    "block_plan",
    "stem_spec",
]


class ConvBn(nn.Sequential):
    """Convolution (no bias, padding ``kernel // 2``), batch norm, optional ReLU; children ``conv``, ``bn``,
    ``act``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        relu: bool = True,
        device: torch.device | str | None = None,
    ):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv"] = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False, device=device
        )
        layers["bn"] = nn.BatchNorm2d(out_channels, device=device)
        if relu:
            layers["act"] = nn.ReLU()
        super().__init__(layers)


class ResidualConvBn(ConvBn):
    """``x + ReLU(BN(conv3x3(x)))``: the input stem's middle convolution."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return x + super().forward(x)


class Downsample(nn.Sequential):
    """The bottleneck shortcut when shape changes (once-for-all's ``avgpool_conv``): average pool of the block's
    stride (ceil mode; none at stride 1), 1x1 convolution, batch norm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, device: torch.device | str | None = None):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if stride > 1:
            layers["pool"] = nn.AvgPool2d(stride, stride, 0, ceil_mode=True)
        layers["conv"] = nn.Conv2d(in_channels, out_channels, 1, bias=False, device=device)
        layers["bn"] = nn.BatchNorm2d(out_channels, device=device)
        super().__init__(layers)


@dataclass(frozen=True)
class StemSpec:
    """The input stem of an arch: widths, whether the residual convolution runs, stride and max pool."""

    mid_channels: int
    out_channels: int
    residual: bool
    stride: int
    max_pool: bool


@dataclass(frozen=True)
class BlockSpec:
    """One bottleneck of an arch: channels, stride, and whether its shortcut is a downsample (else identity)."""

    in_channels: int
    out_channels: int
    middle: int
    stride: int
    downsample: bool


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 with batch norms, shortcut identity or :class:`Downsample`, ReLU after the sum."""

    def __init__(self, spec: BlockSpec, device: torch.device | str | None = None):
        super().__init__()
        self.conv1 = ConvBn(spec.in_channels, spec.middle, 1, device=device)
        self.conv2 = ConvBn(spec.middle, spec.middle, 3, spec.stride, device=device)
        self.conv3 = ConvBn(spec.middle, spec.out_channels, 1, relu=False, device=device)
        self.downsample = (
            Downsample(spec.in_channels, spec.out_channels, spec.stride, device) if spec.downsample else None
        )
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.act(self.conv3(self.conv2(self.conv1(x))) + residual)


class Stem(nn.Sequential):
    """conv3x3 (stride) -> [residual conv3x3] -> conv3x3, each with BN and ReLU, then the optional max pool."""

    def __init__(self, spec: StemSpec, device: torch.device | str | None = None):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv0"] = ConvBn(3, spec.mid_channels, 3, spec.stride, device=device)
        if spec.residual:
            layers["residual"] = ResidualConvBn(spec.mid_channels, spec.mid_channels, 3, device=device)
        layers["conv2"] = ConvBn(spec.mid_channels, spec.out_channels, 3, device=device)
        if spec.max_pool:
            layers["pool"] = nn.MaxPool2d(3, 2, 1)
        super().__init__(layers)


class Head(nn.Module):
    """Global average pool, dropout, linear classifier."""

    def __init__(self, in_features: int, num_classes: int, dropout: float, device: torch.device | str | None = None):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_features, num_classes, device=device)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(x.mean((2, 3))))


def stem_spec(space: ResNetSpace, arch: Arch) -> StemSpec:
    """The input stem of ``arch``."""
    mid, _ = space.stem_widths(float(arch["stem_mid_width"]))
    _, out = space.stem_widths(float(arch["stem_width"]))
    return StemSpec(mid, out, int(arch["stem_depth"]) == 3, space.stem_stride, space.max_pool)


def block_plan(space: ResNetSpace, arch: Arch) -> list[BlockSpec]:
    """Every bottleneck of ``arch``, in order."""
    plan: list[BlockSpec] = []
    in_channels = stem_spec(space, arch).out_channels
    for stage_index, stage in enumerate(space.stages, start=1):
        out_channels = space.stage_width(stage_index, float(arch[space.width_label(stage_index)]))
        for block in range(1, int(arch[space.depth_label(stage_index)]) + 1):
            expand = float(arch[space.block_label(stage_index, block, "expand")])
            stride = stage.stride if block == 1 else 1
            plan.append(
                BlockSpec(in_channels, out_channels, space.middle_width(out_channels, expand), stride, block == 1)
            )
            in_channels = out_channels
    return plan


class ResNetSubnet(nn.Module):
    """A static ResNet for one arch of a :class:`~search_spaces.ResNetSpace`.

    ``device="meta"`` builds the structure without memory (extraction then assigns the weights).
    """

    def __init__(
        self,
        space: ResNetSpace,
        arch: Arch,
        num_classes: int,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.space_name = space.name
        self.arch = arch
        self.stem = Stem(stem_spec(space, arch), device)
        plan = block_plan(space, arch)
        self.blocks = nn.Sequential(*(Bottleneck(spec, device) for spec in plan))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(plan[-1].out_channels, num_classes, device=device)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.classifier(self.dropout(x.mean((2, 3))))
