"""Parameter and multiply-accumulate counts of a network, from torch's own FLOP counter."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_macs", "count_params"]


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
