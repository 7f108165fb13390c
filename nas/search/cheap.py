"""The cheap metrics of a search: computed for every candidate from the arch alone, before anything expensive
runs (the family's cost model, a device's latency table), and budgets on them checked for reachability."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from nas.search.objectives import Budget, device_of, metric
from nas.supernet.latency import LatencyModel
from nas.supernet.latency_transfer import TransferLatencyModel
from nas.supernet.registry import cost_model, family_of
from search_spaces import Arch, ConfigError, SearchSpace

__all__ = ["CheapMetrics", "check_budgets_reachable"]


class CheapMetrics:
    """The metrics computed from the arch alone, each memoized per arch through its cost model's caches.

    ``latencies`` holds a latency predictor per metric (a table's :class:`LatencyModel`, or a few-shot
    ``TransferLatencyModel``; anything with ``predict(archs) -> ms``): ``latency`` and ``latency@NAME``.
    """

    def __init__(
        self,
        space: SearchSpace,
        num_classes: int,
        latencies: Mapping[str, LatencyModel | TransferLatencyModel] | None = None,
        train_batch: int = 32,
    ):
        self.space, self.num_classes, self.train_batch = space, num_classes, train_batch
        self.latencies = dict(latencies or {})
        self.costs = cost_model(space, num_classes) if family_of(space) is not None else None
        self._measures = self.costs.metrics(train_batch) if self.costs is not None else {}

    @property
    def names(self) -> list[str]:
        """The cheap metrics this space has (the latencies only with their tables)."""
        return [*self._measures, *self.latencies]

    def require(self, names: Iterable[str]) -> None:
        """Fail early when a metric needs something this search was not given or the space does not model."""
        for name in names:
            device = device_of(name)
            if device is not None and name not in self.latencies:
                raise ConfigError(
                    f"{name!r} needs --latency-table {device}=TABLE (build one with `nas profile`, on the device "
                    "with --on)",
                    field="latency_table",
                    value=name,
                )
            if name == "latency" and name not in self.latencies:
                raise ConfigError(
                    "the latency objective or budget needs --latency-table (build one with `nas profile`)",
                    field="latency_table",
                )
            if device is None and name != "latency" and name not in self._measures:
                available = [*self._measures, "latency"]
                raise ConfigError(
                    f"metric {name!r} is not modelled for space {self.space.name!r}; its cheap metrics are "
                    f"{', '.join(available)}",
                    field="objectives",
                    value=name,
                    allowed=available,
                )

    def compute(self, arch: Arch, names: Iterable[str]) -> dict[str, float]:
        values: dict[str, float] = {}
        for name in names:
            if name in self.latencies:
                values[name] = float(self.latencies[name].predict([arch])[0])
            elif name in self._measures:
                values[name] = float(self._measures[name](arch))
        return values

    def worst(self, name: str) -> float:
        """A value no arch of the space can be worse than (reference point and placeholder of skipped trials)."""
        definition = metric(name)
        if definition.unit == "fraction":
            return 0.0 if definition.direction == "maximize" else 1.0
        if name == "loss":
            return math.log(self.num_classes)
        bound = self.costs.bound(name) if self.costs is not None else None
        if bound is not None:
            return bound
        return 1.1 * self.compute(self.space.largest(), [name])[name]


def check_budgets_reachable(budgets: Iterable[Budget], cheap: CheapMetrics) -> None:
    """Refuse a budget on a cheap metric that even the space's smallest arch misses, naming the smallest value."""
    smallest = cheap.space.smallest()
    for budget in budgets:
        if metric(budget.metric).source != "cheap":
            continue
        best = cheap.compute(smallest, [budget.metric])[budget.metric]
        if budget.violation(best) > 0:
            raise ConfigError(
                f"no architecture can meet {budget.describe()}: the smallest achievable {budget.metric} is {best:g} "
                f"{metric(budget.metric).unit} (the space's smallest arch)",
                field="budget",
                value=budget.metric,
            )
