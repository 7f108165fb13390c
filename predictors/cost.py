"""Counts of what a network computes: parameters, multiply-accumulates (torch's own FLOP counter) and the
operations one forward pass dispatches."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["OpCounts", "count_macs", "count_ops", "count_params"]


def count_params(model: nn.Module) -> int:
    """Number of parameter elements (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, resolution: int, batch_size: int = 1, in_channels: int = 3) -> int:
    """Multiply-accumulates of one forward pass at ``resolution`` (FLOPs from ``FlopCounterMode`` / 2).

    Runs on the meta device when the model is there, so it needs no real memory or compute.
    """
    device = next(model.parameters()).device
    sample = torch.zeros(batch_size, in_channels, resolution, resolution, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class OpCounts:
    """What one forward pass dispatches: ``ops`` aten operations (about one kernel launch each in eager mode) and
    ``activations``, the elements of their outputs (a proxy for memory traffic)."""

    ops: int
    activations: int


class _OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.activations = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.ops += 1
        self.activations += sum(t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


def count_ops(model: nn.Module, input_shape: Sequence[int]) -> OpCounts:
    """Aten operations and their output elements in one eval-mode forward at ``input_shape`` (on the meta device:
    no memory, no compute; the model is left untouched)."""
    meta = copy.deepcopy(model).to("meta").eval()
    counter = _OpCounter()
    with torch.no_grad(), counter:
        meta(torch.empty(tuple(input_shape), device="meta"))
    return OpCounts(counter.ops, counter.activations)
