"""Classification losses and predictions for plain ``[B, classes]`` and time-major ``[T, B, classes]`` outputs.

Spiking networks score every timestep; their prediction is the mean over steps and they train on the
cross-entropy of every step, averaged (TET, Deng et al., 2022), which the trainer applies through these helpers.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["class_scores", "classification_loss"]


def class_scores(scores: Tensor) -> Tensor:
    """``[B, classes]`` from a classifier's output: the mean over steps for time-major ``[T, B, classes]``."""
    return scores.mean(0) if scores.dim() == 3 else scores


def classification_loss(scores: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy averaged over steps for ``[T, B, classes]`` (TET, Deng et al. 2022); plain for 2-D scores.

    ``target`` holds class indices or class probabilities (distillation), as ``F.cross_entropy`` takes them.
    """
    if scores.dim() == 2:
        return F.cross_entropy(scores, target, label_smoothing=label_smoothing)
    steps = scores.shape[0]
    expanded = target.expand(steps, *target.shape).flatten(0, 1) if target.dim() == 2 else target.repeat(steps)
    return F.cross_entropy(scores.flatten(0, 1), expanded, label_smoothing=label_smoothing)
