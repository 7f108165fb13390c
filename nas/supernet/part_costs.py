"""MACs, parameters and memory of subnets that are chains of parts (stem, blocks at their input sizes, head),
composed from memoized per-part figures so that a search can ask for thousands of archs a second.

One implementation serves every family whose subnets decompose into parts (:class:`~nas.supernet.parts.SubnetPart`):
the family gives the function that lists an arch's parts and the one that builds a part; the figures follow:

- MACs and parameters: the sum over parts (``FlopCounterMode`` / 2 and ``numel`` of each part built on the meta
  device), equal to the counts on the whole extracted subnet;
- weights: the sum over parts;
- inference peak (eager PyTorch, tensor lifetimes): the largest part peak plus what stays alive around it — the
  caller's input image always, and the stem's output while the block chain runs (``nn.Sequential`` holds its
  argument; in some families through the head too); the families' tests check it equal to the whole-net estimate;
- MCUNet's int8 peak: the largest part peak (nothing outlives a part on a microcontroller);
- training: weights, gradients and optimizer state from the weights; saved activations as the sum over parts, less
  what a family says two neighbouring parts both save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.supernet.costs import CostModel, Metric
from nas.supernet.parts import SubnetPart
from predictors.memory import (
    OPTIMIZER_STATE_FACTORS,
    TrainingMemory,
    dtype_name,
    inference_peak_bytes,
    mcunet_peak_bytes,
    resolve_dtype,
    training_memory,
    weight_bytes,
)
from search_spaces import Arch, ConfigError, SearchSpace
from search_spaces.checks import check_at_least

__all__ = [
    "MEMORY_METRICS",
    "MemoryCosts",
    "PartChainCosts",
    "PartChainMemory",
    "parts_macs",
    "parts_params",
]

PartBuilder = Callable[[SubnetPart, Any], nn.Module]
"""A family's ``build_part(part, device)``: a fresh eval-mode module for the part."""
PartLister = Callable[[Any, Arch, int], list[SubnetPart]]
"""A family's ``subnet_parts(space, arch, num_classes)``: the arch's parts in forward order."""

MEMORY_METRICS = (
    Metric("peak_memory", "minimize", "bytes", "cheap", "peak activation memory of inference, batch 1, fp32"),
    Metric("mcu_memory", "minimize", "bytes", "cheap", "MCUNet's int8 peak SRAM"),
    Metric("training_memory", "minimize", "bytes", "cheap", "training step memory at --train-batch"),
)
"""The memory metrics of the families whose costs are a :class:`PartChainCosts` (registered with each family)."""


@lru_cache(maxsize=2048)
def _meta_part(build: PartBuilder, kind: str, spec: tuple[tuple[str, Any], ...], channels: int) -> nn.Module:
    """A part built on the meta device, shared by every input size (used only for counting)."""
    return build(SubnetPart(kind, spec, channels, 0), "meta")


@lru_cache(maxsize=8192)
def _part_macs(build: PartBuilder, part: SubnetPart) -> int:
    sample = torch.empty(part.input_shape(1), device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        _meta_part(build, part.kind, part.spec, part.channels)(sample)
    return counter.get_total_flops() // 2


@lru_cache(maxsize=8192)
def _part_params(build: PartBuilder, part: SubnetPart) -> int:
    return sum(p.numel() for p in _meta_part(build, part.kind, part.spec, part.channels).parameters())


def parts_macs(build: PartBuilder, parts: list[SubnetPart]) -> int:
    """MACs of a chain of parts at batch 1: ``FlopCounterMode`` on the whole subnet / 2, from memoized counts."""
    return sum(_part_macs(build, part) for part in parts)


def parts_params(build: PartBuilder, parts: list[SubnetPart]) -> int:
    """Parameters of a chain of parts, from memoized counts."""
    return sum(_part_params(build, part) for part in parts)


@lru_cache(maxsize=8192)
def _part_weight_bytes(build: PartBuilder, part: SubnetPart, dtype: str) -> int:
    return weight_bytes(build(part, "meta"), dtype)["total"]


@lru_cache(maxsize=8192)
def _part_inference_peak(build: PartBuilder, part: SubnetPart, batch: int) -> int:
    return inference_peak_bytes(build(part, "meta"), part.input_shape(batch))


@lru_cache(maxsize=8192)
def _part_mcunet_peak(build: PartBuilder, part: SubnetPart, bytes_per_element: int) -> int:
    return mcunet_peak_bytes(build(part, "meta"), part.input_shape(1), bytes_per_element)


@lru_cache(maxsize=8192)
def _part_saved_activations(build: PartBuilder, part: SubnetPart) -> tuple[int, int]:
    """Bytes autograd saves: (per sample, per batch), from batches 2 and 4 (batch norm's per-channel statistics do
    not grow with the batch; train-mode batch norm needs two samples)."""
    module = build(part, "meta")
    two, four = (training_memory(module, part.input_shape(b), "sgd").activations_bytes for b in (2, 4))
    per_sample = (four - two) // 2
    return per_sample, two - 2 * per_sample


class PartChainMemory:
    """Weights, inference peak, MCUNet int8 peak and training memory of a space's archs (float32 tensors).

    Args:
        space, num_classes: the subnets'.
        list_parts: the family's ``subnet_parts(space, arch, num_classes)``.
        build: the family's ``build_part(part, device)``.
    """

    stem_output_alive_at_head = False
    """Whether the stem's output is still held while the head runs (the head inside the block chain)."""

    def __init__(self, space: SearchSpace, num_classes: int, list_parts: PartLister, build: PartBuilder):
        self.space, self.num_classes = space, num_classes
        self.list_parts, self.build = list_parts, build

    def parts(self, arch: Arch, batch: int = 1) -> list[SubnetPart]:
        check_at_least(batch=(batch, 1))
        return self.list_parts(self.space, arch, self.num_classes)

    def weights_bytes(self, arch: Arch, dtype: str = "float32") -> int:
        """Bytes of parameters and buffers, with floating tensors stored as ``dtype``."""
        name = dtype_name(resolve_dtype(dtype))
        return sum(_part_weight_bytes(self.build, part, name) for part in self.parts(arch))

    def inference_peak_bytes(self, arch: Arch, batch: int = 1) -> int:
        """Peak activation bytes of a float32 eager forward (the input image included)."""
        parts = self.parts(arch, batch)
        peaks = [_part_inference_peak(self.build, part, batch) for part in parts]
        image = batch * 3 * parts[0].size ** 2 * 4
        stem_output = batch * parts[1].channels * parts[1].size ** 2 * 4
        head = peaks[-1] + image + (stem_output if self.stem_output_alive_at_head else 0)
        chain = (peak + image + stem_output for peak in peaks[2:-1])
        return max(peaks[0], peaks[1] + image, *chain, head)

    def mcunet_peak_bytes(self, arch: Arch, bytes_per_element: int = 1) -> int:
        """MCUNet's peak SRAM rule at ``bytes_per_element`` (1: int8), batch 1."""
        return max(_part_mcunet_peak(self.build, part, bytes_per_element) for part in self.parts(arch))

    def saved_twice_bytes(self, parts: list[SubnetPart], batch: int) -> int:
        """Saved activations that two neighbouring parts both count (none unless a family says so)."""
        return 0

    def training(self, arch: Arch, batch: int, optimizer: str = "sgd_momentum") -> TrainingMemory:
        """Bytes resident during a training step at ``batch`` with ``optimizer``'s state."""
        if optimizer not in OPTIMIZER_STATE_FACTORS:
            raise ConfigError(
                f"optimizer={optimizer!r} not in {sorted(OPTIMIZER_STATE_FACTORS)}", field="optimizer", value=optimizer
            )
        parts = self.parts(arch, batch)
        weights = 4 * parts_params(self.build, parts)  # float32 parameters, buffers excluded
        buffers = sum(_part_weight_bytes(self.build, part, "float32") for part in parts) - weights
        saved = (_part_saved_activations(self.build, part) for part in parts)
        activations = sum(batch * per_sample + fixed for per_sample, fixed in saved)
        activations -= self.saved_twice_bytes(parts, batch)
        state = int(weights * OPTIMIZER_STATE_FACTORS[optimizer])
        total = weights + buffers + weights + state + activations
        return TrainingMemory(weights, buffers, weights, state, activations, total)

    def report(self, arch: Arch, batch: int = 1, optimizer: str = "sgd_momentum") -> dict[str, Any]:
        """Every figure, for ``nas arch show`` and model cards."""
        return memory_figures(self, arch, batch, optimizer)


def memory_figures(memory: Any, arch: Arch, batch: int = 1, optimizer: str = "sgd_momentum") -> dict[str, Any]:
    """Every figure of a memory model (``weights_bytes``, ``inference_peak_bytes``, ``mcunet_peak_bytes``,
    ``training``, as :class:`PartChainMemory` has) for ``arch``: what ``nas arch show`` and model cards print."""
    return {
        "weights_bytes_fp32": memory.weights_bytes(arch),
        "weights_bytes_int8": memory.weights_bytes(arch, "int8"),
        "inference_peak_bytes": memory.inference_peak_bytes(arch, batch),
        "mcunet_int8_peak_bytes": memory.mcunet_peak_bytes(arch),
        "training": asdict(memory.training(arch, max(batch, 2), optimizer)),
    }


class MemoryCosts(CostModel):
    """A cost model that also defines :data:`MEMORY_METRICS` from a memory model (``inference_peak_bytes``,
    ``mcunet_peak_bytes``, ``training`` and ``report``, as :class:`PartChainMemory` has); subclasses add MACs and
    parameters."""

    def __init__(self, space: SearchSpace, num_classes: int, memory: Any):
        super().__init__(space, num_classes)
        self.memory = memory

    def metrics(self, train_batch: int = 32) -> dict[str, Callable[[Arch], float]]:
        return {
            **super().metrics(train_batch),
            "peak_memory": self.memory.inference_peak_bytes,
            "mcu_memory": self.memory.mcunet_peak_bytes,
            "training_memory": lambda arch: self.memory.training(arch, train_batch).total_bytes,
        }

    def memory_report(self, arch: Arch) -> dict[str, Any]:
        return self.memory.report(arch)


class PartChainCosts(MemoryCosts):
    """MACs, parameters and :data:`MEMORY_METRICS` of a space whose subnets are chains of parts; a family's cost
    model is this with its :class:`PartChainMemory`."""

    memory: PartChainMemory

    def macs(self, arch: Arch) -> int:
        return parts_macs(self.memory.build, self.memory.parts(arch))

    def params(self, arch: Arch) -> int:
        return parts_params(self.memory.build, self.memory.parts(arch))
