"""Memory of a ProxylessNAS space's subnets, composed from memoized per-part estimates (the same figures and
composition rules as the MobileNetV3 family's, for this family's parts).

A subnet is a chain of parts (stem, blocks, head; see :func:`~.parts.subnet_parts`), so its figures follow from
its parts' figures:

- weights: the sum over parts;
- inference peak (eager PyTorch, tensor lifetimes): the largest part peak plus what stays alive around it — the
  caller's input image always, and the stem's output while the block chain runs (``nn.Sequential`` holds its
  argument); checked equal to the whole-net estimate in the tests;
- MCUNet's int8 peak: the largest part peak (nothing outlives a part on a microcontroller);
- training: weights, gradients and optimizer state from the weights; saved activations as the sum over parts.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Any

from nas.supernet.families.proxyless.parts import build_part, subnet_parts
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
from search_spaces import Arch, ConfigError, ProxylessSpace
from search_spaces.checks import check_at_least

__all__ = ["SubnetMemory"]


@lru_cache(maxsize=8192)
def _part_weights(part: SubnetPart, dtype: str) -> int:
    return weight_bytes(build_part(part, "meta"), dtype)["total"]


@lru_cache(maxsize=8192)
def _part_params(part: SubnetPart) -> int:
    """Bytes of the part's float32 parameters (its buffers excluded)."""
    return sum(p.numel() * p.element_size() for p in build_part(part, "meta").parameters())


@lru_cache(maxsize=8192)
def _part_inference_peak(part: SubnetPart, batch: int) -> int:
    return inference_peak_bytes(build_part(part, "meta"), part.input_shape(batch))


@lru_cache(maxsize=8192)
def _part_mcunet_peak(part: SubnetPart, bytes_per_element: int) -> int:
    return mcunet_peak_bytes(build_part(part, "meta"), part.input_shape(1), bytes_per_element)


@lru_cache(maxsize=8192)
def _part_saved_activations(part: SubnetPart) -> tuple[int, int]:
    """Bytes autograd saves: (per sample, per batch), from batches 2 and 4 (batch norm's per-channel statistics do
    not grow with the batch; train-mode batch norm needs two samples)."""
    module = build_part(part, "meta")
    two, four = (training_memory(module, part.input_shape(b), "sgd").activations_bytes for b in (2, 4))
    per_sample = (four - two) // 2
    return per_sample, two - 2 * per_sample


class SubnetMemory:
    """Weights, inference peak, MCUNet int8 peak and training memory of a space's archs (float32 tensors)."""

    def __init__(self, space: ProxylessSpace, num_classes: int):
        self.space, self.num_classes = space, num_classes

    def _parts(self, arch: Arch, batch: int = 1) -> list[SubnetPart]:
        check_at_least(batch=(batch, 1))
        return subnet_parts(self.space, arch, self.num_classes)

    def weights_bytes(self, arch: Arch, dtype: str = "float32") -> int:
        """Bytes of parameters and buffers, with floating tensors stored as ``dtype``."""
        name = dtype_name(resolve_dtype(dtype))
        return sum(_part_weights(part, name) for part in self._parts(arch))

    def inference_peak_bytes(self, arch: Arch, batch: int = 1) -> int:
        """Peak activation bytes of a float32 eager forward (the input image included)."""
        parts = self._parts(arch, batch)
        peaks = [_part_inference_peak(part, batch) for part in parts]
        image = batch * 3 * parts[0].size ** 2 * 4
        stem_output = batch * parts[1].channels * parts[1].size ** 2 * 4
        chain = (peak + image + stem_output for peak in peaks[2:-1])
        return max(peaks[0], peaks[1] + image, *chain, peaks[-1] + image)

    def mcunet_peak_bytes(self, arch: Arch, bytes_per_element: int = 1) -> int:
        """MCUNet's peak SRAM rule at ``bytes_per_element`` (1: int8), batch 1."""
        return max(_part_mcunet_peak(part, bytes_per_element) for part in self._parts(arch))

    def training(self, arch: Arch, batch: int, optimizer: str = "sgd_momentum") -> TrainingMemory:
        """Bytes resident during a training step at ``batch`` with ``optimizer``'s state."""
        if optimizer not in OPTIMIZER_STATE_FACTORS:
            raise ConfigError(
                f"optimizer={optimizer!r} not in {sorted(OPTIMIZER_STATE_FACTORS)}", field="optimizer", value=optimizer
            )
        parts = self._parts(arch, batch)
        weights = sum(_part_params(part) for part in parts)
        buffers = sum(_part_weights(part, "float32") for part in parts) - weights
        activations = sum(batch * per_sample + fixed for per_sample, fixed in map(_part_saved_activations, parts))
        state = int(weights * OPTIMIZER_STATE_FACTORS[optimizer])
        total = weights + buffers + weights + state + activations
        return TrainingMemory(weights, buffers, weights, state, activations, total)

    def report(self, arch: Arch, batch: int = 1, optimizer: str = "sgd_momentum") -> dict[str, Any]:
        """Every figure, for ``nas arch show`` and model cards."""
        return {
            "weights_bytes_fp32": self.weights_bytes(arch),
            "weights_bytes_int8": self.weights_bytes(arch, "int8"),
            "inference_peak_bytes": self.inference_peak_bytes(arch, batch),
            "mcunet_int8_peak_bytes": self.mcunet_peak_bytes(arch),
            "training": asdict(self.training(arch, max(batch, 2), optimizer)),
        }
