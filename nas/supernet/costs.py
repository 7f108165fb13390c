"""What a family computes about an arch without weights: the metrics a search can use, and the cost model behind
them (MACs and parameters always; memory, timesteps, energy bounds where the family models them)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from search_spaces import Arch, SearchSpace

__all__ = ["CORE_METRICS", "CostModel", "Metric"]


@dataclass(frozen=True)
class Metric:
    """A quantity a search can use as an objective or a budget.

    ``source`` says where its value comes from: ``cheap`` (computed from the arch by a cost model or a latency
    table), ``accuracy`` (a predictor or the supernet) or ``measured`` (the supernet's evaluation of a family
    that lists it in ``measured_metrics``).
    """

    name: str
    direction: Literal["minimize", "maximize"]
    unit: str
    source: Literal["cheap", "accuracy", "measured"]
    help: str


CORE_METRICS: tuple[Metric, ...] = (
    Metric("accuracy", "maximize", "fraction", "accuracy", "validation accuracy (predicted or measured)"),
    Metric("loss", "minimize", "nats", "accuracy", "validation cross-entropy (predicted or measured)"),
    Metric("latency", "minimize", "ms", "cheap", "latency from a device's table (nas profile)"),
    Metric("macs", "minimize", "MACs", "cheap", "multiply-accumulates at batch 1"),
    Metric("params", "minimize", "parameters", "cheap", "parameter count"),
)
"""The metrics of every space with a family; families add their own (see ``Family.metrics``)."""


class CostModel(ABC):
    """Costs of one space's subnets at one class count, computed from the arch alone and memoized by the family.

    Args:
        space: the search space.
        num_classes: classifier outputs of the subnets.
    """

    def __init__(self, space: SearchSpace, num_classes: int):
        self.space, self.num_classes = space, num_classes

    @abstractmethod
    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1."""

    @abstractmethod
    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s static subnet."""

    def forward_macs(self, arch: Arch) -> int:
        """MACs of one forward pass of the extracted subnet at batch 1, as ``torch.utils.flop_counter.FlopCounterMode``
        counts them (flops / 2).

        The same as :meth:`macs` unless a family defines its MACs otherwise (the spiking families count one timestep
        of the dense network); the supernet contract (:mod:`nas.testing.supernet`) checks it against the counter.
        """
        return self.macs(arch)

    def metrics(self, train_batch: int = 32) -> dict[str, Callable[[Arch], float]]:
        """Every cheap metric the family models, by name; ``train_batch`` is for training-memory metrics."""
        return {"macs": self.macs, "params": self.params}

    def bound(self, metric: str) -> float | None:
        """A value no arch of the space is worse than, for a measured metric of the family (None: not known)."""
        return None

    def memory_report(self, arch: Arch) -> dict[str, Any] | None:
        """Memory figures of ``arch`` for reports and model cards (None: the family does not model memory)."""
        return None
