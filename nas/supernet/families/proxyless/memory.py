"""Memory of a ProxylessNAS space's subnets, composed from memoized per-part estimates
(:mod:`nas.supernet.part_costs`)."""

from __future__ import annotations

from nas.supernet.families.proxyless.parts import build_part, subnet_parts
from nas.supernet.part_costs import PartChainMemory
from search_spaces import ProxylessSpace

__all__ = ["ProxylessMemory"]


class ProxylessMemory(PartChainMemory):
    """Weights, inference peak, MCUNet int8 peak and training memory of a ProxylessNAS space's archs."""

    space: ProxylessSpace

    def __init__(self, space: ProxylessSpace, num_classes: int):
        super().__init__(space, num_classes, subnet_parts, build_part)
