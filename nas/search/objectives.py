"""What a search can optimise or bound: metric names, directions, units, budget parsing, and the cheap metrics
(MACs, parameters, table latency, memory) computed for every candidate before anything expensive runs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nas.profile.tables import LatencyModel
from nas.supernet.families.mobilenetv3.memory import SubnetMemory
from nas.supernet.families.mobilenetv3.static import subnet_macs, subnet_params
from search_spaces import Arch, ConfigError, SearchSpace, SpikingResNetSpace, UnknownNameError
from search_spaces.errors import short_repr

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
    source: str  # "cheap" (from the arch), "accuracy" (predictor or supernet), "spiking"/"conversion" (supernet)
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
        Metric("timesteps", "minimize", "steps", "cheap", "spiking: timesteps T of the arch"),
        Metric("membrane_memory", "minimize", "bytes", "cheap", "spiking: membrane-potential state per image, fp32"),
        Metric("energy", "minimize", "pJ", "spiking", "spiking: energy per image (MACs x 4.6 pJ + ACs x 0.9 pJ)"),
        Metric("synops", "minimize", "ACs", "spiking", "spiking: synaptic operations per image"),
        Metric("firing_rate", "minimize", "fraction", "spiking", "spiking: mean input spikes per neuron and step"),
        Metric(
            "converted_accuracy",
            "maximize",
            "fraction",
            "conversion",
            "QCFS ANN: validation accuracy after ANN-to-SNN conversion at --convert-timesteps",
        ),
    )
}
MEASURED_SOURCES = ("accuracy", "spiking", "conversion")

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


_MBV3_ONLY = ("peak_memory", "mcu_memory", "training_memory")
_SPIKING_CHEAP = ("macs", "params", "timesteps", "membrane_memory", "latency")


@dataclass(frozen=True)
class Budget:
    """``metric <= limit`` or ``metric >= limit``; by default the bound a metric's direction implies
    (``<=`` for a minimised metric, ``>=`` for a maximised one)."""

    metric: str
    limit: float
    upper: bool | None = None  # None: from the metric's direction

    @property
    def is_upper(self) -> bool:
        return METRICS[self.metric].direction == "minimize" if self.upper is None else self.upper

    def violation(self, value: float) -> float:
        """Relative violation (<= 0: met), the form Optuna's constrained samplers take."""
        scale = abs(self.limit) or 1.0
        excess = value - self.limit if self.is_upper else self.limit - value
        return excess / scale

    def describe(self) -> str:
        sign = "<=" if self.is_upper else ">="
        return f"{self.metric} {sign} {self.limit:g} {METRICS[self.metric].unit}"


def parse_budget(text: str) -> Budget:
    """``latency=5``, ``peak_memory=2MiB``, ``macs=50M``, ``accuracy=97%``: metric, ``=``, number, optional unit.

    ``=`` bounds the metric in its direction; ``<=`` and ``>=`` say the side explicitly, so a range is two
    budgets (``firing_rate>=0.05`` and ``firing_rate<=0.3``).
    """
    match_op = re.match(r"\s*([A-Za-z_0-9]+)\s*(<=|>=|=)(.*)$", text) if isinstance(text, str) else None
    if match_op is None:
        raise ConfigError(
            f"budget {short_repr(text)} must look like METRIC=VALUE (or METRIC<=VALUE, METRIC>=VALUE), e.g. latency=5",
            field="budget",
            value=text,
        )
    name, operator, value = match_op.groups()
    if name not in METRICS:
        raise UnknownNameError("budget metric", name if len(name) <= 80 else f"{name[:80]}...", METRICS)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z%]*)\s*", value)
    suffix = match.group(2).lower() if match else ""
    if match is None or suffix not in _SUFFIXES:
        raise ConfigError(
            f"budget {short_repr(text)}: value must be a number with an optional unit "
            f"({', '.join(s for s in _SUFFIXES if s)}), e.g. 2MiB or 50M",
            field="budget",
            value=text,
        )
    limit = float(match.group(1)) * _SUFFIXES[suffix]
    if not math.isfinite(limit):
        raise ConfigError(f"budget {short_repr(text)}: the limit must be finite", field="budget", value=text)
    if METRICS[name].unit == "fraction" and not 0 <= limit <= 1:
        raise ConfigError(
            f"budget {short_repr(text)}: {name} is a fraction, the limit must be in [0, 1] (or 0-100%)",
            field="budget",
            value=text,
            allowed="[0, 1]",
        )
    upper = None if operator == "=" else operator == "<="
    return Budget(name, limit, upper)


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
        self._measures = _spiking_measures(space, num_classes) if isinstance(space, SpikingResNetSpace) else {}
        if not self._measures:
            memory = SubnetMemory(space, num_classes)
            self._measures = {
                "macs": lambda arch: subnet_macs(space, arch, num_classes),  # type: ignore[arg-type]
                "params": lambda arch: subnet_params(space, arch, num_classes),  # type: ignore[arg-type]
                "peak_memory": memory.inference_peak_bytes,
                "mcu_memory": memory.mcunet_peak_bytes,
                "training_memory": lambda arch: memory.training(arch, train_batch).total_bytes,
            }

    def require(self, names: Iterable[str]) -> None:
        """Fail early when a metric needs something this search was not given or the space does not have."""
        spiking_space = isinstance(self.space, SpikingResNetSpace)
        for name in names:
            if spiking_space and name in _MBV3_ONLY:
                raise ConfigError(
                    f"metric {name!r} is not modelled for space {self.space.name!r}; its cheap metrics are "
                    f"{', '.join(_SPIKING_CHEAP)}",
                    field="objectives",
                    value=name,
                    allowed=_SPIKING_CHEAP,
                )
            if not getattr(self.space, "spiking", False) and name in ("timesteps", "membrane_memory"):
                raise ConfigError(
                    f"metric {name!r} needs a spiking space (spiking_resnet), not {self.space.name!r}",
                    field="objectives",
                    value=name,
                )
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
            elif name in self._measures:
                values[name] = float(self._measures[name](arch))
        return values

    def worst(self, name: str) -> float:
        """A value no arch of the space can be worse than (reference point and placeholder of skipped trials)."""
        if name in ("accuracy", "converted_accuracy"):
            return 0.0
        if name == "loss":
            return math.log(self.num_classes)
        if name == "firing_rate":
            return 1.0
        if name in ("energy", "synops"):
            from nas.supernet.families.spiking.costs import EnergyCosts, layer_shapes

            largest = self.space.largest()
            steps = getattr(self.space, "max_timesteps", 1)
            dense = sum(layer.macs for layer in layer_shapes(self.space, largest, self.num_classes)) * steps
            return dense * (EnergyCosts().mac_pj if name == "energy" else 1.0)
        return 1.1 * self.compute(self.space.largest(), [name])[name]


def _spiking_measures(space: SpikingResNetSpace, num_classes: int) -> dict[str, Callable[[Arch], float]]:
    from nas.supernet.families.spiking.costs import layer_shapes, membrane_bytes, subnet_params

    return {
        "macs": lambda arch: sum(layer.macs for layer in layer_shapes(space, arch, num_classes)),
        "params": lambda arch: subnet_params(space, arch, num_classes),
        "timesteps": space.timesteps_of,
        "membrane_memory": lambda arch: membrane_bytes(space, arch, num_classes),
    }


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
