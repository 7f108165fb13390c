"""The validated pieces of a search, built from its config before anything is written: the space, the metrics and
where each comes from, the budgets, the accuracy source and the hypervolume reference point."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nas.layers.convertible import check_conversion_friendly
from nas.search.cheap import CheapMetrics, check_budgets_reachable
from nas.search.config import SearchConfig
from nas.search.evaluators import DOMAIN_CONSTRAINT, PredictedAccuracy
from nas.search.objectives import (
    DEVICE_NAME,
    Budget,
    constraint_values,
    device_latency,
    device_of,
    metric,
    parse_budget,
)
from nas.search.samplers import SamplerContext, list_samplers
from nas.supernet.checkpoint import load_supernet
from nas.supernet.latency_transfer import latency_predictor
from nas.supernet.registry import FAMILIES, create_supernet, family_of
from predictors.base import Predictor, load_predictor
from search_spaces import Arch, ConfigError, SearchSpace, UnknownNameError, get_space

__all__ = ["SearchSetup"]


@dataclass(frozen=True)
class _SupernetFacts:
    space: str
    num_classes: int


class SearchSetup:
    """Everything a search needs, checked: raises a ``ConfigError`` naming the setting that cannot work."""

    def __init__(self, config: SearchConfig):
        self.config = config
        if not config.objectives:
            raise ConfigError("at least one objective is needed", field="objectives", value=config.objectives)
        for name in config.objectives:
            metric(name)
        if len(set(config.objectives)) != len(config.objectives):
            raise ConfigError(f"objectives repeat: {config.objectives}", field="objectives", value=config.objectives)
        if config.sampler not in list_samplers():
            raise UnknownNameError("sampler", config.sampler, list_samplers())
        self.budgets: list[Budget] = [parse_budget(text) for text in config.budgets]
        wanted = list(dict.fromkeys([*config.objectives, *self.budget_metrics]))
        self.supernet_metrics = [name for name in wanted if metric(name).source == "measured"]
        facts = self._supernet_facts() if config.supernet else None
        space_name = config.space or (facts.space if facts else None)
        latency_sources = self._latency_sources()
        for table_space, _ in latency_sources.values():
            space_name = space_name or table_space
        model = load_predictor(config.predictor) if config.predictor else None
        if model is not None:
            space_name = space_name or model.space
        if space_name is None:
            raise ConfigError(
                "--space is needed (or a --supernet, --latency-table or --predictor that names it)", field="space"
            )
        self.space: SearchSpace = get_space(space_name)
        self.num_classes = self._num_classes(facts, model)
        for name, (table_space, _) in latency_sources.items():
            if table_space != self.space.name:
                raise ConfigError(
                    f"the {name} table is for space {table_space!r}, not this search's {self.space.name!r}",
                    field="latency_table",
                    value=name,
                )
        latencies = {name: predictor for name, (_, predictor) in latency_sources.items()}
        self.cheap = CheapMetrics(self.space, self.num_classes, latencies, config.train_batch)
        self.devices = [device for device in map(device_of, config.objectives) if device is not None]
        if config.per_device and not self.devices:
            raise ConfigError(
                "--per-device needs device latencies among the objectives (--latency-table NAME=TABLE, objective "
                "latency or latency@NAME)",
                field="per_device",
            )
        self.cheap_names = [name for name in wanted if metric(name).source == "cheap"]
        self.cheap.require(self.cheap_names)
        check_budgets_reachable(self.budgets, self.cheap)
        self._check_supernet_metrics()
        if config.spiking_friendly:
            self._check_conversion_friendly()
        self.predictor: PredictedAccuracy | None = None
        self.accuracy_metric: str | None = None
        if any(metric(name).source == "accuracy" for name in wanted):
            self._accuracy_source(wanted, model)
        self.directions = [metric(name).direction for name in config.objectives]
        self.reference = list(config.reference) if config.reference else self._default_reference()
        if len(self.reference) != len(config.objectives):
            raise ConfigError(
                f"reference has {len(self.reference)} values for {len(config.objectives)} objectives",
                field="reference",
                value=self.reference,
            )

    # ------------------------------------------------------------------ checks
    def _latency_sources(self) -> dict[str, tuple[str, Any]]:
        """The space and latency predictor of each latency table (or few-shot transfer file) by metric: ``latency``
        for ``--latency-table TABLE``, ``latency@NAME`` for each ``NAME=TABLE``."""
        tables = {"latency": latency_predictor(self.config.latency_table)} if self.config.latency_table else {}
        for entry in self.config.latency_tables:
            device, sep, path = str(entry).partition("=")
            if not sep or not DEVICE_NAME.fullmatch(device) or not path:
                raise ConfigError(
                    f"latency table {entry!r} must look like NAME=TABLE (NAME: letters, digits, '_', '.', '-')",
                    field="latency_table",
                    value=entry,
                )
            if device_latency(device) in tables:
                raise ConfigError(f"device {device!r} has two latency tables", field="latency_table", value=entry)
            tables[device_latency(device)] = latency_predictor(path)
        return tables

    def _num_classes(self, facts: _SupernetFacts | None, model: Predictor | None) -> int:
        """The supernet's class count, else the one the predictor's cost features were counted at, else the
        config's; a supernet and a predictor that disagree cannot share features."""
        recorded = model.num_classes if model is not None else None
        if facts is not None and recorded is not None and facts.num_classes != recorded:
            raise ConfigError(
                f"the supernet has {facts.num_classes} classes but predictor {self.config.predictor} was fitted on "
                f"features counted at {recorded}",
                field="predictor",
                value=self.config.predictor,
            )
        return facts.num_classes if facts else recorded or self.config.num_classes

    def _accuracy_source(self, wanted: list[str], model: Predictor | None) -> None:
        config = self.config
        if config.predictor:
            self.predictor = PredictedAccuracy(config.predictor, self.space, self.num_classes, model)
            self.accuracy_metric = self.predictor.metric
        elif not config.supernet:
            raise ConfigError(
                "accuracy and loss need --predictor DIR (predicted) or --supernet CKPT (measured)", field="objectives"
            )
        for name in wanted:
            if self.predictor and metric(name).source == "accuracy" and name != self.predictor.metric:
                raise ConfigError(
                    f"the predictor predicts {self.predictor.metric!r}; objective {name!r} needs --supernet",
                    field="objectives",
                    value=name,
                )

    def _check_conversion_friendly(self) -> None:
        """Keep the search to conversion-friendly subnets: every subnet of a space has the same layer types,
        so the space's largest subnet decides (built on the meta device, without weights)."""
        family = family_of(self.space)
        if family is not None and family.spiking:
            return  # already spiking: nothing to convert
        with torch.device("meta"):
            supernet = create_supernet(self.space.name, num_classes=self.num_classes)
        check_conversion_friendly(supernet.extract(self.space.largest()))

    def _check_supernet_metrics(self) -> None:
        """A measured metric needs a supernet whose family's evaluation measures it."""
        if not self.supernet_metrics:
            return
        family = family_of(self.space)
        measured = family.measured_metrics if family is not None else ()
        for name in self.supernet_metrics:
            if name not in measured:
                owners = [FAMILIES.get(f) for f in FAMILIES.names() if name in FAMILIES.get(f).measured_metrics]
                need = " or ".join(f"a {f.name} supernet ({', '.join(f.spaces)})" for f in owners)
                raise ConfigError(
                    f"metric {name!r} needs {need}; this search's space is {self.space.name!r}",
                    field="objectives",
                    value=name,
                )
        if not self.config.supernet:
            raise ConfigError(
                f"{self.supernet_metrics[0]!r} is measured on the supernet: pass --supernet CKPT",
                field="objectives",
                value=self.supernet_metrics[0],
            )

    def _supernet_facts(self) -> _SupernetFacts:
        supernet = load_supernet(self.config.supernet)  # type: ignore[arg-type]
        return _SupernetFacts(supernet.space.name, supernet.num_classes)

    def _default_reference(self) -> list[float]:
        """Fixed before the search: chance-level accuracy/loss, 1.1x the largest arch's cheap metrics."""
        largest = self.cheap.compute(self.space.largest(), self.cheap_names)
        return [1.1 * largest[name] if name in largest else self.cheap.worst(name) for name in self.config.objectives]

    # ------------------------------------------------------------------ what the driver asks
    @property
    def budget_metrics(self) -> list[str]:
        return [budget.metric for budget in self.budgets]

    @property
    def measured(self) -> bool:
        """Whether candidates are evaluated on the supernet (on workers)."""
        accuracy = any(metric(n).source == "accuracy" for n in [*self.config.objectives, *self.budget_metrics])
        return bool(self.supernet_metrics) or (self.predictor is None and accuracy)

    def constraints(
        self, values: Mapping[str, Any], budgets: Sequence[Budget] | None = None, per_device: bool | None = None
    ) -> dict[str, float]:
        """The constraints a candidate is told, by name (<= 0: met): each budget's relative violation (the worst of
        a metric's budgets). With ``per_device`` (default: the config's) the device budgets fold into one,
        ``devices``: the least over the devices of each device's worst violation (0 for a device with no budget),
        so a candidate is ruled out only when it meets no device's budgets."""
        budgets = self.budgets if budgets is None else budgets
        per_device = self.config.per_device if per_device is None else per_device
        told: dict[str, float] = {}
        devices: dict[str, float] = {}
        for budget, violation in zip(budgets, constraint_values(budgets, values)):
            device = device_of(budget.metric) if per_device else None
            kept = devices if device is not None else told
            key = device if device is not None else budget.metric
            kept[key] = max(kept.get(key, -math.inf), violation)
        if devices:  # a device with no budget of its own takes every candidate
            unbounded = [0.0] if set(self.devices) - set(devices) else []
            told["devices"] = min([*devices.values(), *unbounded])
        return told

    def sampler_context(self) -> SamplerContext:
        """What samplers may use: the seed, directions, population, the space and the exact cheap objectives and
        cheap-budget violations per arch (the predictor-guided sampler ranks with them)."""
        cheap_budgets = [b for b in self.budgets if metric(b.metric).source == "cheap"]

        def known(archs: Sequence[Arch]) -> np.ndarray:
            rows = [self.cheap.compute(arch, self.cheap_names) for arch in archs]
            return np.array([[row.get(name, np.nan) for name in self.config.objectives] for row in rows])

        def violations(archs: Sequence[Arch]) -> np.ndarray:
            rows = [self.constraints(self.cheap.compute(arch, self.cheap_names), cheap_budgets) for arch in archs]
            return np.array([list(row.values()) for row in rows], dtype=np.float64).reshape(len(archs), -1)

        return SamplerContext(
            seed=self.config.seed,
            directions=tuple(self.directions),
            population=self.config.population,
            space=self.space,
            known=known,
            violations=violations,
        )

    @property
    def keeps_domain(self) -> bool:
        """Whether candidates outside the predictor's training domain are infeasible (a predictor scores
        accuracy and ``allow_extrapolation`` is off)."""
        return self.predictor is not None and not self.config.allow_extrapolation

    def domain_values(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Per arch, whether it lies in the predictor's training domain and the ``domain`` constraint value
        (its distance outside; <= 0 feasible). Without a predictor: all inside."""
        if self.predictor is None:
            return np.ones(len(archs), dtype=bool), np.zeros(len(archs))
        distance = self.predictor.domain_distance(archs)
        return distance == 0, distance

    domain_constraint = DOMAIN_CONSTRAINT

    def sentinel(self, name: str) -> float:
        """The value told for a measured metric of a candidate a cheap budget ruled out."""
        return 2 * math.log(self.num_classes) if name == "loss" else self.cheap.worst(name)

    def evaluator_kwargs(self) -> dict[str, Any]:
        """The plain arguments a worker builds its supernet evaluator from."""
        evaluation, execution = self.config.evaluation, self.config.execution
        return {
            "data": evaluation.data,
            "data_root": evaluation.data_root,
            "data_seed": evaluation.data_seed,
            "resolution": evaluation.resolution,
            "calibration_images": evaluation.calibration_images,
            "split": evaluation.split,
            "threads": max(1, int(execution.cpus_per_worker)),
            "metrics": list(self.supernet_metrics),
            "conversion_timesteps": evaluation.convert_timesteps,
        }
