"""The cost model of ResNet subnets: MACs, parameters and memory (weights, inference peak, MCUNet's int8 peak,
training), composed from memoized per-part figures (:mod:`nas.supernet.part_costs`)."""

from __future__ import annotations

from nas.supernet.families.resnet.memory import ResNetMemory
from nas.supernet.part_costs import PartChainCosts
from search_spaces import ResNetSpace

__all__ = ["ResNetCosts"]


class ResNetCosts(PartChainCosts):
    """MACs, parameters and memory of a :class:`~search_spaces.ResNetSpace`'s subnets."""

    space: ResNetSpace
    memory: ResNetMemory

    def __init__(self, space: ResNetSpace, num_classes: int):
        super().__init__(space, num_classes, ResNetMemory(space, num_classes))
