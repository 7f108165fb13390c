"""The elastic once-for-all ResNet supernet.

``set_active(arch)`` selects a subnet in place: the stem's residual convolution on or off, the stem's two widths,
per stage its depth (the first blocks run) and width, per block its expand ratio (hence its middle width).
Elastic channels take the first ``n`` rows or columns of each weight and the first ``n`` batch-norm channels.
``extract(arch)`` returns a static :class:`~.static.ResNetSubnet` holding copies of the active weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nas.layers import DynamicBatchNorm2d, DynamicConv2d
from nas.supernet.base import Supernet
from nas.supernet.extraction import adopt_copies, permute_, prefixed
from nas.supernet.families.resnet.parts import subnet_macs, subnet_params
from nas.supernet.families.resnet.static import ResNetSubnet
from search_spaces import Arch, ResNetSpace

__all__ = ["ElasticBottleneck", "ElasticConvBn", "ElasticResNet"]


class ElasticConvBn(nn.Module):
    """Convolution with elastic input and output channels, batch norm over the active channels, optional ReLU."""

    def __init__(self, max_in: int, max_out: int, kernel_size: int = 1, stride: int = 1, relu: bool = True):
        super().__init__()
        self.conv = DynamicConv2d(max_in, max_out, kernel_size, stride)
        self.bn = DynamicBatchNorm2d(max_out)
        self.relu = relu

    @property
    def active_out(self) -> int:
        return self.conv.active_out

    @active_out.setter
    def active_out(self, channels: int) -> None:
        self.conv.active_out = channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x

    def active_state(self, in_channels: int) -> dict[str, Tensor]:
        """The active weights keyed as a static ``ConvBn``'s (or ``Downsample``'s) state dict."""
        state = {"conv.weight": self.conv.active_weight(in_channels)}
        state.update(prefixed("bn.", self.bn.active_state(self.conv.active_out)))
        return state


class ElasticBottleneck(nn.Module):
    """A bottleneck block with elastic input, middle and output widths.

    Args:
        in_widths: the widths its input can have (the previous block's or the stem's width choices).
        out_widths: its output width choices (its stage's).
        expand_ratios: middle width = ``make_divisible(round(out * ratio))``.
        stride: of the 3x3 convolution and the shortcut's pool.
        middle_width: the space's rounding of ``out * ratio``.
    """

    def __init__(
        self,
        in_widths: tuple[int, ...],
        out_widths: tuple[int, ...],
        expand_ratios: tuple[float, ...],
        stride: int,
        middle_width: Callable[[int, float], int],
    ):
        super().__init__()
        self.middle_width = middle_width
        self.stride = stride
        max_middle = middle_width(max(out_widths), max(expand_ratios))
        self.conv1 = ElasticConvBn(max(in_widths), max_middle, 1)
        self.conv2 = ElasticConvBn(max_middle, max_middle, 3, stride)
        self.conv3 = ElasticConvBn(max_middle, max(out_widths), 1, relu=False)
        if stride == 1 and tuple(in_widths) == tuple(out_widths):
            self.downsample: ElasticConvBn | None = None
            self.pool: nn.Module | None = None
        else:
            self.downsample = ElasticConvBn(max(in_widths), max(out_widths), 1, relu=False)
            self.pool = nn.AvgPool2d(stride, stride, 0, ceil_mode=True) if stride > 1 else None
        self.set_active(max(out_widths), max(expand_ratios))

    def set_active(self, out_channels: int, expand: float) -> None:
        middle = self.middle_width(out_channels, expand)
        self.conv1.active_out = middle
        self.conv2.active_out = middle
        self.conv3.active_out = out_channels
        if self.downsample is not None:
            self.downsample.active_out = out_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.downsample is None:
            residual = x
        else:
            residual = self.downsample(x if self.pool is None else self.pool(x))
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + residual)

    def active_state(self, in_channels: int) -> dict[str, Tensor]:
        """The active weights keyed as a static :class:`~.static.Bottleneck`'s state dict."""
        middle = self.conv1.active_out
        state = prefixed("conv1.", self.conv1.active_state(in_channels))
        state.update(prefixed("conv2.", self.conv2.active_state(middle)))
        state.update(prefixed("conv3.", self.conv3.active_state(middle)))
        if self.downsample is not None:
            state.update(prefixed("downsample.", self.downsample.active_state(in_channels)))
        return state

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder both middle widths by importance, most important first (the block's function is unchanged).

        The 3x3 convolution's outputs are ranked by the L1 norm of the ``conv3`` weights reading them, then its
        inputs (``conv1``'s outputs) by the L1 norm of the (reordered) ``conv2`` weights reading them, as
        once-for-all does; smaller expand ratios then keep the most important channels.
        """
        for producer, consumer in ((self.conv2, self.conv3), (self.conv1, self.conv2)):
            order = consumer.conv.conv.weight.abs().sum((0, 2, 3)).argsort(descending=True)
            permute_(producer.conv.conv.weight, order, 0)
            bn = producer.bn.bn
            for tensor in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                permute_(tensor, order, 0)
            permute_(consumer.conv.conv.weight, order, 1)


class ElasticResNet(Supernet):
    """Weight-sharing supernet over a :class:`~search_spaces.ResNetSpace` (once-for-all's ``OFAResNets``)."""

    space: ResNetSpace

    def __init__(self, space: ResNetSpace, num_classes: int = 1000, dropout: float = 0.0):
        super().__init__(space, num_classes)
        self.dropout_rate = dropout
        mults = space.width_mults
        mid_widths = tuple(space.stem_widths(mult)[0] for mult in mults)
        stem_widths = tuple(space.stem_widths(mult)[1] for mult in mults)
        self.stem = nn.ModuleList(
            [
                ElasticConvBn(3, max(mid_widths), 3, space.stem_stride),
                ElasticConvBn(max(mid_widths), max(mid_widths), 3),
                ElasticConvBn(max(mid_widths), max(stem_widths), 3),
            ]
        )
        self.max_pool = nn.MaxPool2d(3, 2, 1) if space.max_pool else None
        stages = []
        in_widths = stem_widths
        for stage_index, stage in enumerate(space.stages, start=1):
            out_widths = tuple(space.stage_width(stage_index, mult) for mult in mults)
            blocks = []
            for block in range(space.max_blocks(stage_index)):
                stride = stage.stride if block == 0 else 1
                blocks.append(ElasticBottleneck(in_widths, out_widths, space.expand_ratios, stride, space.middle_width))
                in_widths = out_widths
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(max(in_widths), num_classes)
        self.stem_residual = True
        self.active_depths = [space.max_blocks(stage) for stage in range(1, len(space.stages) + 1)]

    @property
    def constructor_options(self) -> dict[str, object]:
        return {"dropout": self.dropout_rate}

    # ------------------------------------------------------------------ choosing a subnet
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` (of this supernet's space) for the following forward passes."""
        space = self.space
        arch = self.check_arch(arch)
        mid, _ = space.stem_widths(float(arch["stem_mid_width"]))
        _, out = space.stem_widths(float(arch["stem_width"]))
        self.stem[0].active_out = self.stem[1].active_out = mid
        self.stem[2].active_out = out
        self.stem_residual = int(arch["stem_depth"]) == 3
        for stage_index, blocks in enumerate(self.stages, start=1):
            depth = int(arch[space.depth_label(stage_index)])
            width = space.stage_width(stage_index, float(arch[space.width_label(stage_index)]))
            self.active_depths[stage_index - 1] = depth
            for block_index in range(1, depth + 1):
                expand = float(arch[space.block_label(stage_index, block_index, "expand")])
                blocks[block_index - 1].set_active(width, expand)
        self._active_arch = arch

    def active_blocks(self) -> list[ElasticBottleneck]:
        """The elastic blocks the active arch runs, in order."""
        return [block for depth, blocks in zip(self.active_depths, self.stages) for block in blocks[:depth]]

    # ------------------------------------------------------------------ computing
    def forward(self, x: Tensor) -> Tensor:
        x = self.stem[0](x)
        if self.stem_residual:
            x = x + self.stem[1](x)
        x = self.stem[2](x)
        if self.max_pool is not None:
            x = self.max_pool(x)
        for block in self.active_blocks():
            x = block(x)
        x = x.mean((2, 3))
        weight = self.classifier.weight[:, : x.shape[1]]
        return F.linear(self.dropout(x), weight, self.classifier.bias)

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1 (as FlopCounterMode counts its subnet)."""
        return subnet_macs(self.space, self.check_arch(arch), self.num_classes)

    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s extracted subnet."""
        return subnet_params(self.space, self.check_arch(arch), self.num_classes)

    # ------------------------------------------------------------------ extraction
    def extract(self, arch: Arch | None = None) -> ResNetSubnet:
        """A static network of plain torch layers computing ``arch`` (default: the active arch).

        The subnet owns copies of the weights (training it leaves the supernet untouched) and is in the
        supernet's train/eval mode. Selecting ``arch`` leaves it active on the supernet afterwards.
        """
        state = self.active_state_dict(arch)
        subnet = ResNetSubnet(self.space, self._active_arch, self.num_classes, self.dropout_rate, "meta")
        return adopt_copies(subnet, state).train(self.training)

    def active_state_dict(self, arch: Arch | None = None) -> dict[str, Tensor]:
        """The state dict of the static subnet for ``arch`` (default: active), as views into the supernet."""
        if arch is not None:
            self.set_active(arch)
        mid = self.stem[0].active_out
        state = prefixed("stem.conv0.", self.stem[0].active_state(3))
        if self.stem_residual:
            state.update(prefixed("stem.residual.", self.stem[1].active_state(mid)))
        state.update(prefixed("stem.conv2.", self.stem[2].active_state(mid)))
        in_channels = self.stem[2].active_out
        for index, block in enumerate(self.active_blocks()):
            state.update(prefixed(f"blocks.{index}.", block.active_state(in_channels)))
            in_channels = block.conv3.active_out
        state["classifier.weight"] = self.classifier.weight[:, :in_channels]
        state["classifier.bias"] = self.classifier.bias
        return state

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder every bottleneck's middle channels by importance (the function is unchanged).

        Stage and stem widths stay in place (their channels are shared along the residual paths). Rebuild
        optimizer state afterwards, since parameter entries move.
        """
        for blocks in self.stages:
            for block in blocks:
                block.sort_channels()
