"""Static MobileNetV3 building blocks of plain torch layers: what extraction produces and export ships.

A subnet built here has no dynamic operation and no reference to a supernet; it is rebuilt from its space and
arch alone (``MobileNetV3Subnet(space, arch, num_classes)``) and loads its weights with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from search_spaces import Arch, MobileNetV3Space, make_divisible

__all__ = [
    "ConvBnAct",
    "MBConvBlock",
    "MobileNetV3Subnet",
    "SqueezeExcite",
    "activation",
    "block_plan",
    "first_block",
]


def activation(name: str) -> nn.Module:
    """The activation module for a stage's activation name."""
    if name == "relu":
        return nn.ReLU()
    if name == "hswish":
        return nn.Hardswish()
    if name == "relu6":
        return nn.ReLU6()
    raise ValueError(f"unknown activation {name!r}")


class ConvBnAct(nn.Sequential):
    """Convolution (no bias), optional batch norm (epsilon ``eps``), optional activation; children ``conv``, ``bn``,
    ``act``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
        batch_norm: bool = True,
        device: torch.device | str | None = None,
        eps: float = 1e-5,
    ):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv"] = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False, device=device
        )
        if batch_norm:
            layers["bn"] = nn.BatchNorm2d(out_channels, eps=eps, device=device)
        if act is not None:
            layers["act"] = activation(act)
        super().__init__(layers)


class SqueezeExcite(nn.Module):
    """Channel attention: global pool, reduce (ReLU), expand (hard sigmoid), rescale."""

    def __init__(self, channels: int, hidden: int, device: torch.device | str | None = None):
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True, device=device)
        self.expand = nn.Conv2d(hidden, channels, 1, bias=True, device=device)
        self.relu = nn.ReLU()
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.gate(self.expand(self.relu(self.reduce(x.mean((2, 3), keepdim=True)))))
        return x * scale


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand (optional), depthwise kxk, optional SE, 1x1 project, residual (batch norms
    with epsilon ``bn_eps``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        hidden: int,
        stride: int,
        act: str,
        squeeze_excite: bool,
        expand_layer: bool = True,
        device: torch.device | str | None = None,
        bn_eps: float = 1e-5,
    ):
        super().__init__()
        self.expand = ConvBnAct(in_channels, hidden, 1, act=act, device=device, eps=bn_eps) if expand_layer else None
        self.depthwise = ConvBnAct(
            hidden, hidden, kernel_size, stride, groups=hidden, act=act, device=device, eps=bn_eps
        )
        self.se = SqueezeExcite(hidden, make_divisible(hidden // 4), device) if squeeze_excite else None
        self.project = ConvBnAct(hidden, out_channels, 1, device=device, eps=bn_eps)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        return out + x if self.use_residual else out


def first_block(space: MobileNetV3Space, device: torch.device | str | None = None) -> MBConvBlock:
    """The fixed first block: depthwise 3x3 on the stem's channels, no expansion, ReLU, no SE."""
    return MBConvBlock(
        space.stem_width, space.first_block_width, 3, space.stem_width, 1, "relu", False, False, device=device
    )


def block_plan(space: MobileNetV3Space, arch: Arch) -> list[dict[str, object]]:
    """Constructor arguments of every elastic-stage block of ``arch``, in order."""
    plan: list[dict[str, object]] = []
    in_channels = space.first_block_width
    for stage_index, stage in enumerate(space.stages, start=1):
        for block in range(1, int(arch[space.depth_label(stage_index)]) + 1):
            expand = int(arch[space.block_label(stage_index, block, "expand")])
            plan.append(
                {
                    "in_channels": in_channels,
                    "out_channels": stage.width,
                    "kernel_size": int(arch[space.block_label(stage_index, block, "kernel")]),
                    "hidden": make_divisible(round(in_channels * expand)),
                    "stride": stage.stride if block == 1 else 1,
                    "act": stage.activation,
                    "squeeze_excite": stage.squeeze_excite,
                }
            )
            in_channels = stage.width
    return plan


class MobileNetV3Subnet(nn.Module):
    """A static MobileNetV3 for one arch of a :class:`~search_spaces.MobileNetV3Space`.

    ``device="meta"`` builds the structure without memory (extraction then assigns the weights).
    """

    def __init__(
        self,
        space: MobileNetV3Space,
        arch: Arch,
        num_classes: int,
        dropout: float = 0.1,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.space_name = space.name
        self.arch = arch
        self.stem = ConvBnAct(3, space.stem_width, 3, space.stem_stride, act="hswish", device=device)
        blocks = [MBConvBlock(**spec, device=device) for spec in block_plan(space, arch)]  # type: ignore[arg-type]
        self.blocks = nn.Sequential(first_block(space, device), *blocks)
        last_width = space.stages[-1].width
        self.final_expand = ConvBnAct(last_width, space.final_expand_width, 1, act="hswish", device=device)
        self.feature_mix = ConvBnAct(
            space.final_expand_width, space.last_channel, 1, act="hswish", batch_norm=False, device=device
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(space.last_channel, num_classes, device=device)

    def forward(self, x: Tensor) -> Tensor:
        x = self.final_expand(self.blocks(self.stem(x)))
        x = self.feature_mix(x.mean((2, 3), keepdim=True)).flatten(1)
        return self.classifier(self.dropout(x))
