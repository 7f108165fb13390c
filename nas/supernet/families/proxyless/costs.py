"""The cost model of ProxylessNAS subnets: MACs, parameters and the MobileNetV3 family's memory metrics (weights,
inference peak, MCUNet's int8 peak, training), composed from memoized per-part figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nas.supernet.costs import CostModel
from nas.supernet.families.proxyless.memory import SubnetMemory
from nas.supernet.families.proxyless.parts import subnet_macs, subnet_params
from search_spaces import Arch, ProxylessSpace

__all__ = ["ProxylessCosts"]


class ProxylessCosts(CostModel):
    """MACs, parameters and memory of a :class:`~search_spaces.ProxylessSpace`'s subnets."""

    space: ProxylessSpace

    def __init__(self, space: ProxylessSpace, num_classes: int):
        super().__init__(space, num_classes)
        self.memory = SubnetMemory(space, num_classes)

    def macs(self, arch: Arch) -> int:
        return subnet_macs(self.space, arch, self.num_classes)

    def params(self, arch: Arch) -> int:
        return subnet_params(self.space, arch, self.num_classes)

    def metrics(self, train_batch: int = 32) -> dict[str, Callable[[Arch], float]]:
        return {
            **super().metrics(train_batch),
            "peak_memory": self.memory.inference_peak_bytes,
            "mcu_memory": self.memory.mcunet_peak_bytes,
            "training_memory": lambda arch: self.memory.training(arch, train_batch).total_bytes,
        }

    def memory_report(self, arch: Arch) -> dict[str, Any]:
        return self.memory.report(arch)
