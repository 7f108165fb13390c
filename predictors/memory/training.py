"""Memory resident during one training step: weights, buffers, gradients, optimizer state and the activations
autograd saves for the backward pass. Transient buffers of the backward pass (activation gradients) and the
allocator's rounding are not counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from predictors.memory._meta import check_shape, meta_copy, storage_keys, storage_of
from search_spaces.errors import ConfigError, describe_choices

__all__ = ["OPTIMIZER_STATE_FACTORS", "TrainingMemory", "training_memory"]

OPTIMIZER_STATE_FACTORS: dict[str, int] = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2}
"""Optimizer state per trainable parameter, in multiples of the parameter's own bytes."""


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes resident during one training step, by kind; ``total_bytes`` is their sum.

    Attributes:
        weights_bytes: parameters.
        buffers_bytes: buffers (batch norm running statistics, ...).
        gradients_bytes: one gradient per trainable parameter.
        optimizer_state_bytes: optimizer state (momentum, Adam moments) of the trainable parameters.
        activations_bytes: tensors autograd saves for the backward pass (deduplicated by storage, parameters
            excluded, the input included when a layer saves it).
    """

    weights_bytes: int
    buffers_bytes: int
    gradients_bytes: int
    optimizer_state_bytes: int
    activations_bytes: int
    total_bytes: int


def training_memory(
    model: nn.Module,
    input_shape: Sequence[int],
    optimizer: str = "sgd_momentum",
    batch_size: int | None = None,
) -> TrainingMemory:
    """Bytes resident during a training step: weights, buffers, gradients, optimizer state, saved activations.

    Activations are what autograd saves for the backward pass of one train-mode forward (counted with
    ``saved_tensors_hooks`` on meta tensors, deduplicated by storage, parameters excluded). ``optimizer`` picks the
    state per trainable parameter (:data:`OPTIMIZER_STATE_FACTORS`: ``sgd`` none, ``sgd_momentum`` one copy,
    ``adam``/``adamw`` two); ``batch_size`` replaces ``input_shape[0]``. Transient buffers of the backward pass
    (activation gradients) and the allocator's rounding are not counted.
    """
    shape = check_shape(input_shape)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f"batch_size must be a positive integer or None, got {batch_size!r}",
                field="batch_size",
                value=batch_size,
            )
        shape = (batch_size, *shape[1:])
    factor = OPTIMIZER_STATE_FACTORS.get(optimizer) if isinstance(optimizer, str) else None
    if factor is None:
        raise ConfigError(
            f"optimizer must be one of {describe_choices(OPTIMIZER_STATE_FACTORS)}, got {optimizer!r}",
            field="optimizer",
            value=optimizer,
            allowed=list(OPTIMIZER_STATE_FACTORS),
        )
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())

    meta = meta_copy(model, None).train()
    excluded = storage_keys(meta)
    saved: dict[int, int] = {}
    keep: list[torch.UntypedStorage] = []  # alive until the end, so no storage key is reused

    def pack(tensor: Tensor) -> Tensor:
        storage = storage_of(tensor)
        if storage is not None and storage._cdata not in excluded and storage._cdata not in saved:
            saved[storage._cdata] = storage.nbytes()
            keep.append(storage)
        return tensor

    floating = [p.dtype for p in params if p.is_floating_point()]
    sample = torch.empty(shape, dtype=floating[0] if floating else torch.float32, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        meta(sample)
    activations = sum(saved.values())
    optimizer_state = factor * trainable
    return TrainingMemory(
        weights_bytes=weights,
        buffers_bytes=buffers,
        gradients_bytes=trainable,
        optimizer_state_bytes=optimizer_state,
        activations_bytes=activations,
        total_bytes=weights + buffers + trainable + optimizer_state + activations,
    )
