"""The cost model of ProxylessNAS subnets: MACs, parameters and memory (weights, inference peak, MCUNet's int8 peak,
training), composed from memoized per-part figures (:mod:`nas.supernet.part_costs`)."""

from __future__ import annotations

from nas.supernet.families.proxyless.memory import ProxylessMemory
from nas.supernet.part_costs import PartChainCosts
from search_spaces import ProxylessSpace

__all__ = ["ProxylessCosts"]


class ProxylessCosts(PartChainCosts):
    """MACs, parameters and memory of a :class:`~search_spaces.ProxylessSpace`'s subnets."""

    space: ProxylessSpace
    memory: ProxylessMemory

    def __init__(self, space: ProxylessSpace, num_classes: int):
        super().__init__(space, num_classes, ProxylessMemory(space, num_classes))
