"""The cost model of ResNet subnets: MACs, parameters and memory (weights, inference peak, MCUNet's int8 peak,
training), each composed from memoized per-part figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nas.supernet.costs import CostModel, Metric
from nas.supernet.families.resnet.memory import ResNetMemory
from nas.supernet.families.resnet.parts import subnet_macs, subnet_params
from search_spaces import Arch, ResNetSpace

__all__ = ["MEMORY_METRICS", "ResNetCosts"]

MEMORY_METRICS = (
    Metric("peak_memory", "minimize", "bytes", "cheap", "peak activation memory of inference, batch 1, fp32"),
    Metric("mcu_memory", "minimize", "bytes", "cheap", "MCUNet's int8 peak SRAM"),
    Metric("training_memory", "minimize", "bytes", "cheap", "training step memory at --train-batch"),
)
"""The same definitions as the MobileNetV3 family's (the registry refuses a metric defined two ways)."""


class ResNetCosts(CostModel):
    """MACs, parameters and memory of a :class:`~search_spaces.ResNetSpace`'s subnets."""

    space: ResNetSpace

    def __init__(self, space: ResNetSpace, num_classes: int):
        super().__init__(space, num_classes)
        self.memory = ResNetMemory(space, num_classes)

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
