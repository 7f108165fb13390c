"""Static ProxylessNAS subnets of plain torch layers: what extraction produces and export ships.

A subnet is rebuilt from its space and arch alone (``ProxylessSubnet(space, arch, num_classes)``) and loads its
weights with ``strict=True``. Its blocks are the MobileNetV3 family's static MBConv blocks with ReLU6, no
squeeze-excite and once-for-all's ProxylessNAS batch-norm epsilon.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nas.supernet.families.mobilenetv3.static import ConvBnAct, MBConvBlock
from search_spaces import Arch, ProxylessSpace, make_divisible

__all__ = ["ACTIVATION", "BN_EPS", "ProxylessSubnet", "block_plan", "first_block", "head"]

ACTIVATION = "relu6"
"""The activation of every layer of once-for-all's ProxylessNAS nets."""
BN_EPS = 1e-3
"""once-for-all's ProxylessNAS batch-norm epsilon (its ``bn_param=(0.1, 1e-3)``); the published logits need it."""


def first_block(space: ProxylessSpace, device: torch.device | str | None = None) -> MBConvBlock:
    """The fixed first block: depthwise 3x3 on the stem's channels (expand ratio 1), linear 1x1 projection."""
    return MBConvBlock(**first_block_spec(space), device=device)  # type: ignore[arg-type]


def first_block_spec(space: ProxylessSpace) -> dict[str, object]:
    """Constructor arguments of the first block."""
    return {
        "in_channels": space.stem_width,
        "out_channels": space.first_block_width,
        "kernel_size": 3,
        "hidden": space.stem_width,
        "stride": 1,
        "act": ACTIVATION,
        "squeeze_excite": False,
        "expand_layer": False,
        "bn_eps": BN_EPS,
    }


def block_plan(space: ProxylessSpace, arch: Arch) -> list[dict[str, object]]:
    """Constructor arguments of every elastic-stage block of ``arch``, in order."""
    plan: list[dict[str, object]] = []
    in_channels = space.first_block_width
    for stage_index, stage in enumerate(space.stages, start=1):
        for block in range(1, space.stage_depth(arch, stage_index) + 1):
            expand = int(arch[space.block_label(stage_index, block, "expand")])
            plan.append(
                {
                    "in_channels": in_channels,
                    "out_channels": stage.width,
                    "kernel_size": int(arch[space.block_label(stage_index, block, "kernel")]),
                    "hidden": make_divisible(round(in_channels * expand)),
                    "stride": stage.stride if block == 1 else 1,
                    "act": ACTIVATION,
                    "squeeze_excite": False,
                    "bn_eps": BN_EPS,
                }
            )
            in_channels = stage.width
    return plan


def head(
    in_channels: int, last_channel: int, num_classes: int, dropout: float, device: torch.device | str | None = None
) -> tuple[ConvBnAct, nn.Dropout, nn.Linear]:
    """The feature-mix layer (1x1 conv, BN, ReLU6 on the spatial map), dropout and classifier."""
    feature_mix = ConvBnAct(in_channels, last_channel, 1, act=ACTIVATION, device=device, eps=BN_EPS)
    return feature_mix, nn.Dropout(dropout), nn.Linear(last_channel, num_classes, device=device)


class ProxylessSubnet(nn.Module):
    """A static ProxylessNAS network for one arch of a :class:`~search_spaces.ProxylessSpace`.

    ``device="meta"`` builds the structure without memory (extraction then assigns the weights).
    """

    def __init__(
        self,
        space: ProxylessSpace,
        arch: Arch,
        num_classes: int,
        dropout: float = 0.1,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        self.space_name = space.name
        self.arch = arch
        self.stem = ConvBnAct(3, space.stem_width, 3, space.stem_stride, act=ACTIVATION, device=device, eps=BN_EPS)
        blocks = [MBConvBlock(**spec, device=device) for spec in block_plan(space, arch)]  # type: ignore[arg-type]
        self.blocks = nn.Sequential(first_block(space, device), *blocks)
        self.feature_mix, self.dropout, self.classifier = head(
            space.stages[-1].width, space.last_channel, num_classes, dropout, device
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.feature_mix(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(x.mean((2, 3))))
