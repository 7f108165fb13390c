"""What a search can optimise or bound: every metric's name, direction and unit (the core ones and those the
registered families define), and budgets on them with their units."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nas.supernet.costs import Metric
from nas.supernet.registry import metric_definitions
from search_spaces import ConfigError, UnknownNameError
from search_spaces.errors import short_repr

__all__ = [
    "DEVICE_NAME",
    "Budget",
    "Metric",
    "constraint_values",
    "device_latency",
    "device_of",
    "metric",
    "metrics",
    "parse_budget",
]


def metrics() -> dict[str, Metric]:
    """Every metric a search may name, by name."""
    return metric_definitions()


DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
"""A device's name in ``latency@NAME`` (and ``--latency-table NAME=TABLE``)."""


def device_latency(device: str) -> str:
    """The metric of ``device``'s latency: ``latency@<device>``."""
    return f"latency@{device}"


def device_of(name: str) -> str | None:
    """The device of a ``latency@NAME`` metric; None for any other metric."""
    base, at, device = name.partition("@")
    return device if at and base == "latency" else None


def metric(name: str, kind: str = "objective") -> Metric:
    """The metric called ``name`` (``latency@NAME``: one device's latency); ``kind`` words the error for an unknown
    name."""
    known = metric_definitions()
    device = device_of(name) if isinstance(name, str) else None
    if device is not None:
        if not DEVICE_NAME.fullmatch(device):
            raise ConfigError(
                f"{kind} {short_repr(name)}: a device name is letters, digits, '_', '.' or '-' (at most 64)",
                field=kind,
                value=name,
            )
        latency = known["latency"]
        return Metric(name, latency.direction, latency.unit, latency.source, f"latency on device {device!r}")
    if name not in known:
        raise UnknownNameError(kind, name if len(str(name)) <= 80 else f"{str(name)[:80]}...", known)
    return known[name]


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
    """``metric <= limit`` or ``metric >= limit``; by default the bound a metric's direction implies
    (``<=`` for a minimised metric, ``>=`` for a maximised one)."""

    metric: str
    limit: float
    upper: bool | None = None  # None: from the metric's direction

    @property
    def is_upper(self) -> bool:
        return metric(self.metric).direction == "minimize" if self.upper is None else self.upper

    def violation(self, value: float) -> float:
        """Relative violation (<= 0: met), the form Optuna's constrained samplers take."""
        scale = abs(self.limit) or 1.0
        excess = value - self.limit if self.is_upper else self.limit - value
        return excess / scale

    def describe(self) -> str:
        sign = "<=" if self.is_upper else ">="
        return f"{self.metric} {sign} {self.limit:g} {metric(self.metric).unit}"


def parse_budget(text: str) -> Budget:
    """``latency=5``, ``latency@pi5=30``, ``peak_memory=2MiB``, ``macs=50M``, ``accuracy=97%``: metric, ``=``, number,
    optional unit.

    ``=`` bounds the metric in its direction; ``<=`` and ``>=`` say the side explicitly, so a range is two
    budgets (``firing_rate>=0.05`` and ``firing_rate<=0.3``).
    """
    match_op = (
        re.match(r"\s*([A-Za-z_0-9]+(?:@[A-Za-z0-9_.\-]+)?)\s*(<=|>=|=)(.*)$", text) if isinstance(text, str) else None
    )
    if match_op is None:
        raise ConfigError(
            f"budget {short_repr(text)} must look like METRIC=VALUE (or METRIC<=VALUE, METRIC>=VALUE), e.g. latency=5",
            field="budget",
            value=text,
        )
    name, operator, value = match_op.groups()
    definition = metric(name, "budget metric")
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
    if definition.unit == "fraction" and not 0 <= limit <= 1:
        raise ConfigError(
            f"budget {short_repr(text)}: {name} is a fraction, the limit must be in [0, 1] (or 0-100%)",
            field="budget",
            value=text,
            allowed="[0, 1]",
        )
    upper = None if operator == "=" else operator == "<="
    return Budget(name, limit, upper)


def constraint_values(budgets: Iterable[Budget], values: Mapping[str, Any]) -> list[float]:
    """One relative violation per budget, in order."""
    return [budget.violation(float(values[budget.metric])) for budget in budgets]
