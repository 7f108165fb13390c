"""Memory of a MobileNetV3 space's subnets, composed from memoized per-part estimates so that a search can ask for
thousands of archs per second.

A subnet is a chain of parts (stem, blocks, head; see :func:`~nas.supernet.static.subnet_parts`), so its figures
follow from its parts' figures exactly:

- weights: the sum over parts;
- inference peak (eager PyTorch, tensor lifetimes): the largest part peak, plus what stays alive around it — the
  caller's input image always, and the stem's output while the block chain runs (``nn.Sequential`` holds its
  argument), checked equal to the whole-net estimate in the tests;
- MCUNet's int8 peak: the largest part peak (nothing outlives a part on a microcontroller);
- training: weights, gradients and optimizer state from the weights; saved activations as the sum over parts.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Any, NamedTuple

from nas.supernet.static import SubnetPart, build_part, subnet_parts
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
from search_spaces import Arch, ConfigError, MobileNetV3Space, SearchSpace

__all__ = ["SubnetMemory"]


class _PartFigures(NamedTuple):
    params_bytes: int
    buffers_bytes: int
    inference_peak: int
    mcunet_peak: int
    saved_activations: int


@lru_cache(maxsize=8192)
def _part_figures(part: SubnetPart, batch: int, bytes_per_element: int) -> _PartFigures:
    """One part's figures (float32 tensors; the MCUNet peak at ``bytes_per_element``)."""
    module = build_part(part, "meta")
    shape = (batch, part.channels, part.size, part.size)
    training_batch = max(batch, 2)  # train-mode batch norm needs two samples; activations scale linearly
    saved = training_memory(module, (training_batch, *shape[1:]), "sgd").activations_bytes * batch // training_batch
    params = sum(p.numel() * p.element_size() for p in module.parameters())
    return _PartFigures(
        params,
        weight_bytes(module)["total"] - params,
        inference_peak_bytes(module, shape),
        mcunet_peak_bytes(module, (1, *shape[1:]), bytes_per_element),
        saved,
    )


@lru_cache(maxsize=8192)
def _part_weight_bytes(part: SubnetPart, dtype: str) -> int:
    return weight_bytes(build_part(part, "meta"), dtype)["total"]


class SubnetMemory:
    """Weights, inference peak, MCUNet int8 peak and training memory of a space's archs (float32 tensors)."""

    def __init__(self, space: SearchSpace, num_classes: int):
        if not isinstance(space, MobileNetV3Space):
            raise ConfigError(
                f"memory estimates support MobileNetV3 spaces; {space.name!r} is not one",
                field="space",
                value=space.name,
            )
        self.space, self.num_classes = space, num_classes

    def _figures(self, arch: Arch, batch: int = 1, bytes_per_element: int = 1) -> list[_PartFigures]:
        if batch < 1:
            raise ConfigError(f"batch={batch} must be >= 1", field="batch", value=batch)
        return [_part_figures(p, batch, bytes_per_element) for p in subnet_parts(self.space, arch, self.num_classes)]

    def weights_bytes(self, arch: Arch, dtype: str = "float32") -> int:
        """Bytes of parameters and buffers, with floating tensors stored as ``dtype``."""
        name = dtype_name(resolve_dtype(dtype))
        return sum(_part_weight_bytes(part, name) for part in subnet_parts(self.space, arch, self.num_classes))

    def inference_peak_bytes(self, arch: Arch, batch: int = 1) -> int:
        """Peak activation bytes of a float32 eager forward (the input image included)."""
        parts = subnet_parts(self.space, arch, self.num_classes)
        figures = self._figures(arch, batch)
        image = batch * 3 * parts[0].size ** 2 * 4
        stem_output = batch * parts[1].channels * parts[1].size ** 2 * 4
        peaks = [figures[0].inference_peak, figures[1].inference_peak + image]
        peaks += [f.inference_peak + image + stem_output for f in figures[2:]]
        return max(peaks)

    def mcunet_peak_bytes(self, arch: Arch, bytes_per_element: int = 1) -> int:
        """MCUNet's peak SRAM rule at ``bytes_per_element`` (1: int8), batch 1."""
        return max(f.mcunet_peak for f in self._figures(arch, 1, bytes_per_element))

    def training(self, arch: Arch, batch: int, optimizer: str = "sgd_momentum") -> TrainingMemory:
        """Bytes resident during a training step at ``batch`` with ``optimizer``'s state."""
        if optimizer not in OPTIMIZER_STATE_FACTORS:
            raise ConfigError(
                f"optimizer={optimizer!r} not in {sorted(OPTIMIZER_STATE_FACTORS)}", field="optimizer", value=optimizer
            )
        figures = self._figures(arch, batch)
        weights = sum(f.params_bytes for f in figures)
        buffers = sum(f.buffers_bytes for f in figures)
        activations = sum(f.saved_activations for f in figures)
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
