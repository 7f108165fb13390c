"""The elastic once-for-all MobileNetV3 supernet.

``set_active(arch)`` selects a subnet in place, ``sample(rng)`` draws and selects one, ``extract(arch)`` returns a
static :class:`~.static.MobileNetV3Subnet` holding copies of the active weights. Extraction builds the static
network on the meta device and assigns the copied tensors, so no time goes into initialising weights that
are overwritten at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from nas.layers import DynamicBatchNorm2d, DynamicConv2d, DynamicDepthwiseConv2d, DynamicSqueezeExcite
from nas.supernet.base import Supernet
from nas.supernet.extraction import adopt_copies, permute_, prefixed
from nas.supernet.families.mobilenetv3.parts import subnet_macs, subnet_params
from nas.supernet.families.mobilenetv3.static import ConvBnAct, MobileNetV3Subnet, activation, first_block
from search_spaces import Arch, MobileNetV3Space, make_divisible

__all__ = ["ElasticMBConv", "ElasticMobileNetV3"]


class ElasticMBConv(nn.Module):
    """An inverted-residual block with elastic kernel size and expand ratio (hence elastic hidden width); its batch
    norms use epsilon ``bn_eps``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: tuple[int, ...],
        expand_ratios: tuple[int, ...],
        stride: int,
        act: str,
        squeeze_excite: bool,
        bn_eps: float = 1e-5,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.kernel_sizes = tuple(kernel_sizes)
        self.expand_ratios = tuple(expand_ratios)
        max_hidden = make_divisible(round(in_channels * max(expand_ratios)))
        self.expand_conv = DynamicConv2d(in_channels, max_hidden)
        self.expand_bn = DynamicBatchNorm2d(max_hidden)
        self.depthwise_conv = DynamicDepthwiseConv2d(max_hidden, self.kernel_sizes, stride)
        self.depthwise_bn = DynamicBatchNorm2d(max_hidden)
        self.act = activation(act)
        self.se = DynamicSqueezeExcite(max_hidden) if squeeze_excite else None
        self.project_conv = DynamicConv2d(max_hidden, out_channels)
        self.project_bn = DynamicBatchNorm2d(out_channels)
        self.use_residual = stride == 1 and in_channels == out_channels
        for norm in (self.expand_bn, self.depthwise_bn, self.project_bn):
            norm.bn.eps = bn_eps
        self.set_active(max(kernel_sizes), max(expand_ratios))

    def set_active(self, kernel: int, expand: int) -> None:
        self.depthwise_conv.active_kernel = kernel
        self.expand_conv.active_out = self.hidden(expand)

    def hidden(self, expand: int) -> int:
        """Hidden width at an expand ratio (OFA's rounding)."""
        return make_divisible(round(self.in_channels * expand))

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.expand_bn(self.expand_conv(x)))
        out = self.act(self.depthwise_bn(self.depthwise_conv(out)))
        if self.se is not None:
            out = self.se(out)
        out = self.project_bn(self.project_conv(out))
        return out + x if self.use_residual else out

    def active_state(self) -> dict[str, Tensor]:
        """The active weights keyed as a static :class:`MBConvBlock`'s state dict."""
        hidden = self.expand_conv.active_out
        state = {"expand.conv.weight": self.expand_conv.active_weight(self.in_channels)}
        state.update(prefixed("expand.bn.", self.expand_bn.active_state(hidden)))
        state["depthwise.conv.weight"] = self.depthwise_conv.active_weight(hidden)
        state.update(prefixed("depthwise.bn.", self.depthwise_bn.active_state(hidden)))
        if self.se is not None:
            state.update(prefixed("se.", self.se.active_state(hidden)))
        state["project.conv.weight"] = self.project_conv.conv.weight[:, :hidden]
        state.update(prefixed("project.bn.", self.project_bn.active_state(self.project_bn.bn.num_features)))
        return state

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder hidden channels (and SE hidden units) by importance, most important first.

        Importance is the L1 norm of the weights that read a channel. The block computes the same function
        afterwards; smaller expand ratios then keep the most important channels.
        """
        order = self.project_conv.conv.weight.abs().sum((0, 2, 3)).argsort(descending=True)
        permute_(self.expand_conv.conv.weight, order, 0)
        for bn in (self.expand_bn.bn, self.depthwise_bn.bn):
            for tensor in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                permute_(tensor, order, 0)
        permute_(self.depthwise_conv.conv.weight, order, 0)
        permute_(self.project_conv.conv.weight, order, 1)
        if self.se is not None:
            permute_(self.se.reduce.weight, order, 1)
            permute_(self.se.expand.weight, order, 0)
            permute_(self.se.expand.bias, order, 0)
            se_order = self.se.expand.weight.abs().sum((0, 2, 3)).argsort(descending=True)
            permute_(self.se.reduce.weight, se_order, 0)
            permute_(self.se.reduce.bias, se_order, 0)
            permute_(self.se.expand.weight, se_order, 1)


class ElasticMobileNetV3(Supernet):
    """Weight-sharing supernet over a :class:`~search_spaces.MobileNetV3Space`."""

    space: MobileNetV3Space

    def __init__(self, space: MobileNetV3Space, num_classes: int = 1000, dropout: float = 0.1):
        super().__init__(space, num_classes)
        self.dropout_rate = dropout
        self.stem = ConvBnAct(3, space.stem_width, 3, space.stem_stride, act="hswish")
        self.first_block = first_block(space)
        stages = []
        in_channels = space.first_block_width
        for spec in space.stages:
            blocks = []
            for block in range(space.max_depth):
                blocks.append(
                    ElasticMBConv(
                        in_channels,
                        spec.width,
                        space.kernel_sizes,
                        space.expand_ratios,
                        spec.stride if block == 0 else 1,
                        spec.activation,
                        spec.squeeze_excite,
                    )
                )
                in_channels = spec.width
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.final_expand = ConvBnAct(in_channels, space.final_expand_width, 1, act="hswish")
        self.feature_mix = ConvBnAct(space.final_expand_width, space.last_channel, 1, act="hswish", batch_norm=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(space.last_channel, num_classes)
        self.active_depths = [space.max_depth] * len(space.stages)

    @property
    def constructor_options(self) -> dict[str, object]:
        return {"dropout": self.dropout_rate}

    # ------------------------------------------------------------------ choosing a subnet
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` (of this supernet's space) for the following forward passes."""
        space = self.space
        arch = self.check_arch(arch)
        for stage_index, blocks in enumerate(self.stages, start=1):
            depth = int(arch[space.depth_label(stage_index)])
            self.active_depths[stage_index - 1] = depth
            for block_index in range(1, depth + 1):
                blocks[block_index - 1].set_active(
                    int(arch[space.block_label(stage_index, block_index, "kernel")]),
                    int(arch[space.block_label(stage_index, block_index, "expand")]),
                )
        self._active_arch = arch

    def active_blocks(self) -> list[ElasticMBConv]:
        """The elastic blocks the active arch runs, in order."""
        return [block for depth, blocks in zip(self.active_depths, self.stages) for block in blocks[:depth]]

    # ------------------------------------------------------------------ computing
    def forward(self, x: Tensor) -> Tensor:
        x = self.first_block(self.stem(x))
        for block in self.active_blocks():
            x = block(x)
        x = self.final_expand(x)
        x = self.feature_mix(x.mean((2, 3), keepdim=True)).flatten(1)
        return self.classifier(self.dropout(x))

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1 (as FlopCounterMode counts its subnet)."""
        return subnet_macs(self.space, arch, self.num_classes)

    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s extracted subnet."""
        return subnet_params(self.space, arch, self.num_classes)

    # ------------------------------------------------------------------ extraction
    def extract(self, arch: Arch | None = None) -> MobileNetV3Subnet:
        """A static network of plain torch layers computing ``arch`` (default: the active arch).

        The subnet owns copies of the weights (training it leaves the supernet untouched) and is in the
        supernet's train/eval mode. Selecting ``arch`` leaves it active on the supernet afterwards.
        """
        state = self.active_state_dict(arch)
        subnet = MobileNetV3Subnet(self.space, self._active_arch, self.num_classes, self.dropout_rate, "meta")
        return adopt_copies(subnet, state).train(self.training)

    def active_state_dict(self, arch: Arch | None = None) -> dict[str, Tensor]:
        """The state dict of the static subnet for ``arch`` (default: active), as views into the supernet."""
        if arch is not None:
            self.set_active(arch)
        state: dict[str, Tensor] = {}
        state.update(prefixed("stem.", self.stem.state_dict()))
        state.update(prefixed("blocks.0.", self.first_block.state_dict()))
        for index, block in enumerate(self.active_blocks(), start=1):
            state.update(prefixed(f"blocks.{index}.", block.active_state()))
        for name in ("final_expand", "feature_mix", "classifier"):
            state.update(prefixed(name + ".", getattr(self, name).state_dict()))
        return state

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder every elastic block's hidden channels by importance (the function is unchanged).

        Do this before training smaller expand ratios (OFA's progressive shrinking) and rebuild optimizer state
        afterwards, since parameter entries move.
        """
        for blocks in self.stages:
            for block in blocks:
                block.sort_channels()
