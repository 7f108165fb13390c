"""The cost model of MobileNetV3 subnets: MACs, parameters and memory (weights, inference peak, MCUNet's int8 peak,
training), composed from memoized per-part figures (:mod:`nas.supernet.part_costs`)."""

from __future__ import annotations

from nas.supernet.families.mobilenetv3.memory import SubnetMemory
from nas.supernet.part_costs import PartChainCosts
from search_spaces import MobileNetV3Space

__all__ = ["MobileNetV3Costs"]


class MobileNetV3Costs(PartChainCosts):
    """MACs, parameters and memory of a :class:`~search_spaces.MobileNetV3Space`'s subnets."""

    space: MobileNetV3Space
    memory: SubnetMemory

    def __init__(self, space: MobileNetV3Space, num_classes: int):
        super().__init__(space, num_classes, SubnetMemory(space, num_classes))
