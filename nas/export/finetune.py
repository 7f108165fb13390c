"""Optional fine-tuning of an extracted subnet before export: plain SGD (Nesterov momentum, cosine schedule) on
the training split at the arch's resolution. Weight sharing costs a subnet a little accuracy; a few epochs on its
own recover some of it."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.checks import check_at_least, require

__all__ = ["FinetuneResult", "finetune"]


@dataclass(frozen=True)
class FinetuneResult:
    """What a fine-tuning run did: epochs, steps, settings, the last epoch's mean loss and the time taken."""

    epochs: int
    steps: int
    lr: float
    batch_size: int
    weight_decay: float
    final_loss: float
    seconds: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def finetune(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    epochs: int,
    lr: float = 0.01,
    batch_size: int = 64,
    weight_decay: float = 5e-5,
    seed: int = 0,
) -> FinetuneResult:
    """Train ``model`` in place for ``epochs`` passes over ``images`` (already at its resolution); leaves it in
    eval mode. Batches of one image are skipped (batch norm needs two)."""
    check_at_least(epochs=(epochs, 1), batch_size=(batch_size, 2))
    require(lr > 0, "lr", lr, "> 0")
    started = time.perf_counter()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total_steps = epochs * math.ceil(len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(total_steps, 1))
    generator = torch.Generator().manual_seed(seed)
    steps, epoch_loss = 0, float("nan")
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        loss_sum, seen = 0.0, 0
        for start in range(0, len(images), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2:
                continue
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            steps += 1
            loss_sum += loss.item() * len(batch)
            seen += len(batch)
        epoch_loss = loss_sum / max(seen, 1)
    model.eval()
    seconds = time.perf_counter() - started
    return FinetuneResult(epochs, steps, lr, batch_size, weight_decay, epoch_loss, round(seconds, 2))
