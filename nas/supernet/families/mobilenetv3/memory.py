"""Memory of a MobileNetV3 space's subnets, composed from memoized per-part estimates
(:mod:`nas.supernet.part_costs`); the head runs inside the block chain, so the stem's output is alive through it."""

from __future__ import annotations

from nas.supernet.families.mobilenetv3.parts import build_part, subnet_parts
from nas.supernet.part_costs import PartChainMemory
from search_spaces import MobileNetV3Space

__all__ = ["SubnetMemory"]


class SubnetMemory(PartChainMemory):
    """Weights, inference peak, MCUNet int8 peak and training memory of a MobileNetV3 space's archs."""

    space: MobileNetV3Space
    stem_output_alive_at_head = True

    def __init__(self, space: MobileNetV3Space, num_classes: int):
        super().__init__(space, num_classes, subnet_parts, build_part)
