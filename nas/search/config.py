"""A search's settings: three frozen configs, the single source of defaults for the Python API and the CLI.

:class:`SearchConfig` says what is searched (objectives, budgets, sampler, space and accuracy source);
:class:`EvaluationConfig` how a candidate is scored on the supernet; :class:`ExecutionConfig` where evaluations
run and where the study is stored. The whole tree is saved in the run folder, so ``--resume`` continues the same
search.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from search_spaces.checks import check_count, check_number

__all__ = ["EvaluationConfig", "ExecutionConfig", "SearchConfig"]


@dataclass(frozen=True)
class EvaluationConfig:
    """How candidates are scored on the supernet: the data, BN recalibration, the split and conversion."""

    data: str = "digits"
    data_root: str | None = None
    data_seed: int = 0
    resolution: int = 32
    calibration_images: int = 512
    split: str = "val"
    convert_timesteps: int = 8  # T of the converted SNN, for converted_accuracy

    def __post_init__(self) -> None:
        check_count("calibration_images", self.calibration_images, 1)
        check_count("convert_timesteps", self.convert_timesteps, 1)


@dataclass(frozen=True)
class ExecutionConfig:
    """Where evaluations run and where the study is kept."""

    workers: int = 2
    ray: bool = True
    ray_address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    storage: str | None = None  # Optuna storage URL; None: a journal file in the run folder
    batch: int = 64  # candidates asked per round when nothing is evaluated on workers
    heartbeat_seconds: float = 10.0  # database storages: a driver silent 3x this long is dead; its trials re-queue

    def __post_init__(self) -> None:
        check_count("workers", self.workers, 1)
        check_count("batch", self.batch, 1)
        check_number("heartbeat_seconds", self.heartbeat_seconds, 0, strict=True)
        check_number("cpus_per_worker", self.cpus_per_worker, 0, strict=True)
        check_number("gpus_per_worker", self.gpus_per_worker, 0)


@dataclass(frozen=True)
class SearchConfig:
    """What a search looks for and with what."""

    objectives: tuple[str, ...] = ("accuracy", "latency")
    budgets: tuple[str, ...] = ()
    sampler: str = "nsga2"
    trials: int = 300
    population: int = 50
    seed: int = 0
    space: str | None = None
    supernet: str | None = None
    predictor: str | None = None
    latency_table: str | None = None
    latency_tables: tuple[str, ...] = ()  # NAME=TABLE: device NAME's table, metric latency@NAME
    per_device: bool = False  # one front per device; device budgets rule out only archs that meet no device's
    num_classes: int = 10
    train_batch: int = 32
    reference: tuple[float, ...] | None = None
    spiking_friendly: bool = False
    allow_extrapolation: bool = False  # keep candidates outside the predictor's training domain on the front
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        for name in ("objectives", "budgets", "reference", "latency_tables"):  # lists given in code become tuples
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        check_count("trials", self.trials, 1)
        check_count("population", self.population, 1)

    def replace(self, **changes: Any) -> SearchConfig:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)
