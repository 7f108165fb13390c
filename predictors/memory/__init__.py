"""Memory estimates of a network: weight storage, inference peak, MCUNet peak SRAM and the training footprint.

Every forward pass runs on a meta-device copy of the model (weights are never copied, only their shapes), so an
estimate needs no GPU, no real memory and leaves the caller's model untouched. Works on any ``nn.Module`` whose
forward runs on meta tensors (no ``.item()`` or other data-dependent control flow).

One module per estimate: :mod:`~predictors.memory.dtypes` (dtype names), :mod:`~predictors.memory.weights` (weight
storage), :mod:`~predictors.memory.inference` (eager PyTorch inference peak, by tensor lifetimes),
:mod:`~predictors.memory.mcunet` (MCUNet's per-layer peak SRAM), :mod:`~predictors.memory.training` (a training
step's footprint); :mod:`~predictors.memory._meta` holds the meta-copy and storage helpers they share.
"""

from __future__ import annotations

from predictors.memory.dtypes import DTYPES, dtype_name, resolve_dtype
from predictors.memory.inference import InferenceMemory, inference_memory, inference_peak_bytes
from predictors.memory.mcunet import McuMemory, mcunet_memory, mcunet_peak_bytes
from predictors.memory.training import OPTIMIZER_STATE_FACTORS, TrainingMemory, training_memory
from predictors.memory.weights import weight_bytes

__all__ = [
    "DTYPES",
    "OPTIMIZER_STATE_FACTORS",
    "InferenceMemory",
    "McuMemory",
    "TrainingMemory",
    "dtype_name",
    "inference_memory",
    "inference_peak_bytes",
    "mcunet_memory",
    "mcunet_peak_bytes",
    "resolve_dtype",
    "training_memory",
    "weight_bytes",
]
