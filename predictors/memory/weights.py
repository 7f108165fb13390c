"""Weight storage of a network: bytes of its parameters and buffers, by dtype, read from shapes alone."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from predictors.memory.dtypes import resolve_dtype

__all__ = ["weight_bytes"]


def weight_bytes(model: nn.Module, dtype: str | torch.dtype | None = None) -> dict[str, int]:
    """Bytes of the parameters and buffers, by dtype name, plus ``"total"``.

    With ``dtype``, every floating parameter and floating buffer is counted as stored in that dtype (e.g. ``"int8"``
    for a quantized deployment); integer tensors such as batch norm's ``num_batches_tracked`` keep their own dtype.
    Reads shapes and dtypes only, so the model may be on any device, meta included.
    """
    target = None if dtype is None else resolve_dtype(dtype)
    sizes: dict[str, int] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        stored = target if target is not None and tensor.is_floating_point() else tensor.dtype
        name = str(stored).removeprefix("torch.")
        sizes[name] = sizes.get(name, 0) + tensor.numel() * stored.itemsize
    sizes["total"] = sum(sizes.values())
    return sizes
