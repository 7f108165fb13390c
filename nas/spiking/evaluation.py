"""Evaluate a spiking subnet at every ``T`` in one forward pass, with its firing rates and energy.

The subnet is extracted at the space's largest ``T``, its per-step BN statistics are recalibrated once, and one
pass over the split gives the scores of every step. Because the network is causal in time (LIF neurons and
per-step statistics), the mean of the first ``t`` steps' scores *is* the output of the subnet run for ``t``
steps, so the accuracy, loss and spike counts of each smaller ``T`` come out of the same pass.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nas.data import DataSplits
from nas.spiking.energy import SpikeCounts, ann_comparison, record_spikes
from nas.supernet.families.spiking.costs import DEFAULT_COSTS, EnergyCosts, membrane_bytes
from nas.supernet.families.spiking.network import SpikingResNet, forward_all_steps
from nas.training.evaluation import calibrate_bn, resize
from search_spaces import Arch, ConfigError

__all__ = ["TimestepResult", "evaluate_timesteps", "require_spiking", "spiking_metrics"]


@dataclass(frozen=True)
class TimestepResult:
    """A spiking subnet run for ``timesteps`` steps, on one split."""

    timesteps: int
    accuracy: float
    loss: float
    synops: float  # rate model, per image
    synops_exact: float  # counted from the actual spikes, per image
    energy_pj: float  # rate model
    energy_exact_pj: float
    firing_rate: float
    images: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def require_spiking(supernet: object) -> SpikingResNet:
    if not isinstance(supernet, SpikingResNet) or not supernet.is_spiking:
        raise ConfigError(
            f"a spiking supernet is needed (spiking_resnet), got {type(supernet).__name__}",
            field="supernet",
            value=getattr(getattr(supernet, "space", None), "name", None),
        )
    return supernet


@torch.no_grad()
def evaluate_timesteps(
    supernet: SpikingResNet,
    arch: Arch,
    data: DataSplits,
    split: str = "test",
    calibration_images: int = 512,
    batch_size: int = 256,
    costs: EnergyCosts = DEFAULT_COSTS,
    device: torch.device | str = "cpu",
    count_spikes: bool = True,
) -> tuple[dict[int, TimestepResult], SpikeCounts | None]:
    """Results at every ``T`` choice of the space (one extraction, one calibration, one pass) and the counts.

    Without ``count_spikes`` only accuracy and loss are measured (the cost figures are NaN, the counts None).
    """
    space = require_spiking(supernet).space
    top = space.with_timesteps(arch, space.max_timesteps)
    subnet = supernet.extract(top).to(device)
    resolution = int(arch["resolution"])
    calibrate_bn(subnet, resize(data.train.images[:calibration_images].to(device), resolution), batch_size)
    subnet.eval()
    dataset = getattr(data, split)
    images = resize(dataset.images.to(device), resolution)
    labels = dataset.labels.to(device)
    correct = torch.zeros(space.max_timesteps)
    loss_sum = torch.zeros(space.max_timesteps)
    with record_spikes(subnet) if count_spikes else nullcontext() as counts:
        for start in range(0, len(images), batch_size):
            scores = forward_all_steps(subnet, images[start : start + batch_size]).float()
            target = labels[start : start + batch_size]
            correct += (scores.argmax(2) == target).sum(1).cpu()
            loss_sum += _step_losses(scores, target).cpu()
    count, nan = len(images), float("nan")
    results = {
        steps: TimestepResult(
            timesteps=steps,
            accuracy=float(correct[steps - 1]) / count,
            loss=float(loss_sum[steps - 1]) / count,
            synops=counts.synops(steps) if counts else nan,
            synops_exact=counts.synops(steps, exact=True) if counts else nan,
            energy_pj=counts.energy_pj(steps, costs) if counts else nan,
            energy_exact_pj=counts.energy_pj(steps, costs, exact=True) if counts else nan,
            firing_rate=counts.mean_firing_rate(steps) if counts else nan,
            images=count,
        )
        for steps in space.timesteps
    }
    return results, counts


def _step_losses(scores: Tensor, target: Tensor) -> Tensor:
    """Summed cross-entropy per step of ``[T, B, classes]`` cumulative scores."""
    steps = scores.shape[0]
    losses = F.cross_entropy(scores.flatten(0, 1), target.repeat(steps), reduction="none")
    return losses.view(steps, -1).sum(1)


def spiking_metrics(
    supernet: SpikingResNet, arch: Arch, result: TimestepResult, counts: SpikeCounts, costs: EnergyCosts
) -> dict[str, float | bool | str]:
    """The search metrics of ``arch`` (at its own ``T``): accuracy, loss, energy, SynOps, rate, memory, ANN view."""
    comparison = ann_comparison(supernet.space, arch, supernet.num_classes, counts, result.timesteps, costs)
    return {
        "accuracy": result.accuracy,
        "loss": result.loss,
        "energy": result.energy_pj,
        "synops": result.synops,
        "firing_rate": result.firing_rate,
        "int8_ann_energy": float(comparison["int8_ann_energy_pj"]),
        "membrane_memory": float(membrane_bytes(supernet.space, arch, supernet.num_classes)),
    }
