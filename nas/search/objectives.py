"""What a search can optimise or bound: metric names, directions, units, budget parsing, and the cheap metrics
(MACs, parameters, table latency, memory) computed for every candidate before anything expensive runs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nas.memory import SubnetMemory
from nas.profiling import LatencyModel
from nas.supernet.static import subnet_macs, subnet_params
from search_spaces import Arch, ConfigError, SearchSpace, UnknownNameError

__all__ = [
    "METRICS",
    "Budget",
    "CheapMetrics",
    "Metric",
    "check_budgets_reachable",
    "constraint_values",
    "parse_budget",
]


@dataclass(frozen=True)
class Metric:
    """A quantity a search can use as an objective or a budget."""

    name: str
    direction: str  # "minimize" or "maximize"
    unit: str
    source: str  # "cheap" (computed from the arch), "accuracy" (predictor or supernet evaluation)
    help: str


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("accuracy", "maximize", "fraction", "accuracy", "validation accuracy (predicted or measured)"),
        Metric("loss", "minimize", "nats", "accuracy", "validation cross-entropy (predicted or measured)"),
        Metric("latency", "minimize", "ms", "cheap", "latency from a device's table (nas profile)"),
        Metric("macs", "minimize", "MACs", "cheap", "multiply-accumulates at batch 1"),
        Metric("params", "minimize", "parameters", "cheap", "parameter count"),
        Metric("peak_memory", "minimize", "bytes", "cheap", "peak activation memory of inference, batch 1, fp32"),
        Metric("mcu_memory", "minimize", "bytes", "cheap", "MCUNet's int8 peak SRAM"),
        Metric("training_memory", "minimize", "bytes", "cheap", "training step memory at --train-batch"),
    )
}

_SUFFIXES = {
    "": 1.0,
    "ms": 1.0,
    "k": 1e3,
    "m": 1e6,
    "g": 1e9,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "kib": 2.0**10,
    "mib": 2.0**20,
    "gib": 2.0**30,
    "%": 0.01,
}


@dataclass(frozen=True)
class Budget:
    """``metric <= limit`` for a minimised metric, ``metric >= limit`` for a maximised one."""

    metric: str
    limit: float

    def violation(self, value: float) -> float:
        """Relative violation (<= 0: met), the form Optuna's constrained samplers take."""
        scale = abs(self.limit) or 1.0
        excess = value - self.limit if METRICS[self.metric].direction == "minimize" else self.limit - value
        return excess / scale

    def describe(self) -> str:
        sign = "<=" if METRICS[self.metric].direction == "minimize" else ">="
        return f"{self.metric} {sign} {self.limit:g} {METRICS[self.metric].unit}"


def parse_budget(text: str) -> Budget:
    """``latency=5``, ``peak_memory=2MiB``, ``macs=50M``, ``accuracy=97%``: metric, ``=``, number, optional unit."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise ConfigError(f"budget {text!r} must look like METRIC=VALUE, e.g. latency=5", field="budget", value=text)
    if name not in METRICS:
        raise UnknownNameError("budget metric", name, METRICS)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z%]*)\s*", value)
    suffix = match.group(2).lower() if match else ""
    if match is None or suffix not in _SUFFIXES:
        raise ConfigError(
            f"budget {text!r}: value must be a number with an optional unit "
            f"({', '.join(s for s in _SUFFIXES if s)}), e.g. 2MiB or 50M",
            field="budget",
            value=text,
        )
    return Budget(name, float(match.group(1)) * _SUFFIXES[suffix])


class CheapMetrics:
    """The metrics computed from the arch alone, each memoized per arch through its own per-part caches."""

    def __init__(
        self,
        space: SearchSpace,
        num_classes: int,
        latency: LatencyModel | None = None,
        train_batch: int = 32,
    ):
        self.space, self.num_classes, self.latency, self.train_batch = space, num_classes, latency, train_batch
        self.memory = SubnetMemory(space, num_classes)

    def require(self, names: Iterable[str]) -> None:
        """Fail early when a metric needs something this search was not given."""
        for name in names:
            if name == "latency" and self.latency is None:
                raise ConfigError(
                    "the latency objective or budget needs --latency-table (build one with `nas profile`)",
                    field="latency_table",
                )

    def compute(self, arch: Arch, names: Iterable[str]) -> dict[str, float]:
        values: dict[str, float] = {}
        for name in names:
            if name == "latency":
                assert self.latency is not None
                values[name] = float(self.latency.predict([arch])[0])
            elif name == "macs":
                values[name] = float(subnet_macs(self.space, arch, self.num_classes))  # type: ignore[arg-type]
            elif name == "params":
                values[name] = float(subnet_params(self.space, arch, self.num_classes))  # type: ignore[arg-type]
            elif name == "peak_memory":
                values[name] = float(self.memory.inference_peak_bytes(arch))
            elif name == "mcu_memory":
                values[name] = float(self.memory.mcunet_peak_bytes(arch))
            elif name == "training_memory":
                values[name] = float(self.memory.training(arch, self.train_batch).total_bytes)
        return values


def check_budgets_reachable(budgets: Iterable[Budget], cheap: CheapMetrics) -> None:
    """Refuse a budget on a cheap metric that even the space's smallest arch misses, naming the smallest value."""
    smallest = cheap.space.smallest()
    for budget in budgets:
        if METRICS[budget.metric].source != "cheap":
            continue
        best = cheap.compute(smallest, [budget.metric])[budget.metric]
        if budget.violation(best) > 0:
            raise ConfigError(
                f"no architecture can meet {budget.describe()}: the smallest achievable {budget.metric} is {best:g} "
                f"{METRICS[budget.metric].unit} (the space's smallest arch)",
                field="budget",
                value=budget.metric,
            )


def constraint_values(budgets: Iterable[Budget], values: Mapping[str, Any]) -> list[float]:
    """One relative violation per budget, in order."""
    return [budget.violation(float(values[budget.metric])) for budget in budgets]
