"""Memory of a ResNet space's subnets, composed from memoized per-part estimates (:mod:`nas.supernet.part_costs`).

Two neighbouring parts save one tensor twice in the per-part sum: a bottleneck's closing ReLU keeps its output for
backward and the next block's convolutions keep the same tensor as their input (so does the stem's ReLU when the
stem has no max pool); the training figure counts it once.
"""

from __future__ import annotations

from itertools import pairwise

from nas.supernet.families.resnet.parts import build_part, subnet_parts
from nas.supernet.part_costs import PartChainMemory
from nas.supernet.parts import SubnetPart
from search_spaces import ResNetSpace

__all__ = ["ResNetMemory"]


class ResNetMemory(PartChainMemory):
    """Weights, inference peak, MCUNet int8 peak and training memory of a ResNet space's archs."""

    space: ResNetSpace

    def __init__(self, space: ResNetSpace, num_classes: int):
        super().__init__(space, num_classes, subnet_parts, build_part)

    def saved_twice_bytes(self, parts: list[SubnetPart], batch: int) -> int:
        """Each block's input, saved by the part before it (a block, or a stem without max pool) and by itself."""
        return sum(
            batch * following.channels * following.size**2 * 4
            for previous, following in pairwise(parts)
            if following.kind == "block" and (previous.kind == "block" or not dict(previous.spec)["max_pool"])
        )
