"""The elastic once-for-all ProxylessNAS supernet.

``set_active(arch)`` selects a subnet in place, ``extract(arch)`` returns a static :class:`~.static.ProxylessSubnet`
holding copies of the active weights (built on the meta device, then given the copied tensors). The elastic blocks
are the MobileNetV3 family's :class:`ElasticMBConv` with ReLU6, no squeeze-excite and batch-norm epsilon 1e-3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from nas.supernet.base import Supernet
from nas.supernet.extraction import adopt_copies, prefixed
from nas.supernet.families.mobilenetv3.elastic import ElasticMBConv
from nas.supernet.families.mobilenetv3.static import ConvBnAct
from nas.supernet.families.proxyless.parts import subnet_macs, subnet_params
from nas.supernet.families.proxyless.static import ACTIVATION, BN_EPS, ProxylessSubnet, first_block, head
from search_spaces import Arch, ProxylessSpace

__all__ = ["ElasticProxylessNAS"]


class ElasticProxylessNAS(Supernet):
    """Weight-sharing supernet over a :class:`~search_spaces.ProxylessSpace`.

    Args:
        space: the space.
        num_classes: classifier outputs.
        dropout: dropout before the classifier (once-for-all's 0.1).
    """

    space: ProxylessSpace

    def __init__(self, space: ProxylessSpace, num_classes: int = 1000, dropout: float = 0.1):
        super().__init__(space, num_classes)
        self.dropout_rate = dropout
        self.stem = ConvBnAct(3, space.stem_width, 3, space.stem_stride, act=ACTIVATION, eps=BN_EPS)
        self.first_block = first_block(space)
        stages = []
        in_channels = space.first_block_width
        for stage_index, spec in enumerate(space.stages, start=1):
            blocks = []
            for block in range(space.stage_slots(stage_index)):
                blocks.append(
                    ElasticMBConv(
                        in_channels,
                        spec.width,
                        space.kernel_sizes,
                        space.expand_ratios,
                        spec.stride if block == 0 else 1,
                        ACTIVATION,
                        squeeze_excite=False,
                        bn_eps=BN_EPS,
                    )
                )
                in_channels = spec.width
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.feature_mix, self.dropout, self.classifier = head(in_channels, space.last_channel, num_classes, dropout)
        self.active_depths = [len(blocks) for blocks in self.stages]

    @property
    def constructor_options(self) -> dict[str, object]:
        return {"dropout": self.dropout_rate}

    # ------------------------------------------------------------------ choosing a subnet
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` (of this supernet's space) for the following forward passes."""
        space = self.space
        arch = self.check_arch(arch)
        for stage_index, blocks in enumerate(self.stages, start=1):
            depth = space.stage_depth(arch, stage_index)
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
        x = self.feature_mix(x)
        return self.classifier(self.dropout(x.mean((2, 3))))

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1 (as FlopCounterMode counts its subnet)."""
        return subnet_macs(self.space, arch, self.num_classes)

    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s extracted subnet."""
        return subnet_params(self.space, arch, self.num_classes)

    # ------------------------------------------------------------------ extraction
    def extract(self, arch: Arch | None = None) -> ProxylessSubnet:
        """A static network of plain torch layers computing ``arch`` (default: the active arch), owning copies of
        the weights, in the supernet's train/eval mode; ``arch`` stays active on the supernet afterwards."""
        state = self.active_state_dict(arch)
        subnet = ProxylessSubnet(self.space, self._active_arch, self.num_classes, self.dropout_rate, "meta")
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
        for name in ("feature_mix", "classifier"):
            state.update(prefixed(name + ".", getattr(self, name).state_dict()))
        return state

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder every elastic block's hidden channels by importance (the largest arch's function is unchanged);
        rebuild optimizer state afterwards, since parameter entries move."""
        for blocks in self.stages:
            for block in blocks:
                block.sort_channels()
