"""Helpers shared by the forward-pass estimates: the meta-device copy of a model, storage keys, the shape check.

Every estimate's forward runs on a meta-device copy (weights are never copied, only their shapes), so it needs no
GPU, no real memory and leaves the caller's model untouched. Tensors are told apart by their storage (a view shares
its base's), and parameters and buffers are never counted as activations.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from search_spaces.errors import ConfigError

__all__ = ["check_shape", "meta_copy", "storage_keys", "storage_of"]


def check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """The input shape as a tuple of positive ints; ConfigError otherwise."""
    values = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else ()
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ConfigError(
            f"input_shape must be a non-empty tuple of positive integers such as (1, 3, 224, 224), got {input_shape!r}",
            field="input_shape",
            value=input_shape,
        )
    return values


def meta_copy(model: nn.Module, dtype: torch.dtype | None) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers are empty meta tensors (floating ones cast to dtype).

    Pre-filling deepcopy's memo with the meta tensors means no weight is ever copied, and tied weights stay tied.
    """
    memo: dict[int, Any] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        cast = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
        empty = torch.empty_like(tensor, dtype=cast, device="meta")
        memo[id(tensor)] = nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else empty
    return copy.deepcopy(model, memo)


def storage_of(tensor: Tensor) -> torch.UntypedStorage | None:
    """The tensor's storage, or None for a tensor without one (sparse, nested, ...)."""
    try:
        return tensor.untyped_storage()
    except (NotImplementedError, RuntimeError):
        return None


def storage_keys(model: nn.Module) -> set[int]:
    """Storage keys of the model's parameters and buffers: never counted as activations."""
    keys = set()
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        storage = storage_of(tensor)
        if storage is not None:
            keys.add(storage._cdata)
    return keys
