"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, NCCL on GPU).

Every rank samples the same subnets (same seed) and takes its own slice of each global batch. A sandwich step runs
three or more backward passes, one per subnet; rather than letting DDP's hooks all-reduce after each, gradients are
averaged once per step with a single bucketed all-reduce after the last backward: the same result as DDP with
``no_sync`` on all but the last pass, with one collective per step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from search_spaces import NasError

__all__ = ["DistributedContext", "init_distributed"]


@dataclass(frozen=True)
class DistributedContext:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def all_reduce_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Average gradients over ranks (missing gradients count as zero) with one flat all-reduce."""
        if not self.active:
            return
        params = [p for p in parameters if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in params:
            count = p.numel()
            p.grad.copy_(flat[offset : offset + count].view_as(p.grad))
            offset += count

    def mean(self, values: list[float], device: torch.device) -> list[float]:
        """The mean of each value over ranks (all ranks then take the same decisions, e.g. on NaN)."""
        if not self.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return (tensor / self.world_size).tolist()

    def check_in_sync(self, model: nn.Module, device: torch.device) -> None:
        """Raise if the ranks' weights have drifted apart (they must stay identical)."""
        if not self.active:
            return
        checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1).to(device)
        gathered = [torch.zeros_like(checksum) for _ in range(self.world_size)]
        dist.all_gather(gathered, checksum)
        values = torch.cat(gathered)
        if not torch.allclose(values, values[0].expand_as(values), rtol=0, atol=1e-6):
            raise NasError(f"training ranks diverged: parameter checksums {values.tolist()}")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None else int(value)


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment (idempotent); a single process
    without torchrun gets rank 0 of 1."""
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return DistributedContext()
    context = DistributedContext(_env_int("RANK", 0), world_size, _env_int("LOCAL_RANK", 0))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(context.local_rank)
        dist.init_process_group(backend=backend)
    return context
