"""Parity checks: an exported artifact must compute what the supernet computes for its arch.

The reference is the supernet's own forward pass with the arch active, in eval mode, holding the batch-norm
statistics that recalibration gave the extracted subnet (copied into the supernet's active slices), so extraction
and export are checked together on real images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from nas.export.errors import ParityError
from search_spaces import Arch

__all__ = ["DEFAULT_TOLERANCE", "check_parity", "max_abs_diff", "supernet_outputs"]

DEFAULT_TOLERANCE = 1e-4
_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@torch.no_grad()
def supernet_outputs(supernet: nn.Module, arch: Arch, subnet: nn.Module, images: Tensor) -> Tensor:
    """The supernet's eval-mode logits for ``arch`` on ``images``, with ``subnet``'s batch-norm statistics.

    The supernet's BN buffers for ``arch`` are overwritten (use a supernet loaded for the purpose).
    """
    calibrated = subnet.state_dict()
    for key, view in supernet.active_state_dict(arch).items():  # views into the supernet's buffers
        if key.endswith(_BN_BUFFERS):
            view.copy_(calibrated[key])
    was_training = supernet.training
    supernet.eval()
    try:
        return supernet(images)
    finally:
        supernet.train(was_training)


def max_abs_diff(output: Tensor, reference: Tensor) -> float:
    """Largest absolute difference (inf for a shape mismatch, nan if either holds a NaN)."""
    output, reference = output.detach().float().cpu(), reference.detach().float().cpu()
    if output.shape != reference.shape:
        return math.inf
    return float((output - reference).abs().max()) if output.numel() else 0.0


def check_parity(fmt: str, diff: float, tolerance: float, reference: str = "supernet's active forward") -> None:
    """Raise :class:`ParityError` unless ``diff <= tolerance`` (a NaN fails too)."""
    if not diff <= tolerance:
        raise ParityError(fmt, diff, tolerance, reference)
